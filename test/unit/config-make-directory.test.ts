import { after, test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RingtrainError } from '../../src/core';
import { makeDirectory } from '../../src/core/make-directory';

const dir = fs.mkdtempSync(join(tmpdir(), 'ringtrain-mkdir-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const FIX = 'pass --out DIR';
const RUN = { what: 'the run directory', fix: FIX };

function refusal(target: string): RingtrainError {
  try {
    makeDirectory(target, RUN);
  } catch (e) {
    assert.ok(e instanceof RingtrainError, String(e));
    return e;
  }
  assert.fail(`makeDirectory(${target}) should have refused`);
}

test('makes missing parents, and accepts a directory that exists or a link to one', () => {
  const deep = join(dir, 'a', 'b', 'c');
  makeDirectory(deep, RUN);
  assert.ok(fs.statSync(deep).isDirectory());
  makeDirectory(deep, RUN);
  fs.symlinkSync(join(dir, 'a'), join(dir, 'link'));
  makeDirectory(join(dir, 'link', 'b', 'd'), RUN);
  assert.ok(fs.statSync(join(dir, 'a', 'b', 'd')).isDirectory());
});

test('a file in the way is named, with the fix, and is left as it was', () => {
  const file = join(dir, 'results.txt');
  fs.writeFileSync(file, 'keep me');
  for (const target of [file, join(file, 'run')]) {
    const e = refusal(target);
    assert.equal(e.code, 'CONFIG_INVALID');
    assert.equal(e.message, `cannot use ${target} as the run directory: ${file} is a file, not a directory; ${FIX}`);
  }
  assert.equal(fs.readFileSync(file, 'utf8'), 'keep me');
});

test(
  "a place where nothing can be made is refused at once (Node's recursive mkdir loops forever under /proc)",
  { skip: process.platform !== 'linux' },
  () => {
    const e = refusal('/proc/ringtrain-no/run');
    assert.match(
      e.message,
      /^cannot use \/proc\/ringtrain-no\/run as the run directory: \/proc\/ringtrain-no cannot be created \(this file system does not allow creating it\); pass --out DIR$/,
    );
  },
);
