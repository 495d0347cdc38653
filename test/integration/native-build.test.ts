/**
 * The native addon's install step (native/build.js) on a machine that cannot compile: it must
 * say in plain words that the native kernels were not built, what to install, and still let
 * `npm ci` succeed (exit 0), since training falls back to the wasm kernels. Run on a copy of
 * native/ so the real build is untouched; CXX points at a compiler that does not exist.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO } from './deploy-tools';

test('without a C++ compiler the native build says what is missing and how to fix it, and does not fail the install', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-native-'));
  try {
    for (const f of fs.readdirSync(path.join(REPO, 'native'))) {
      if (/\.(cc|h|gyp|js)$/.test(f)) fs.copyFileSync(path.join(REPO, 'native', f), path.join(dir, f));
    }
    const r = spawnSync(process.execPath, [path.join(dir, 'build.js')], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, CXX: '/nonexistent/g++', CC: '/nonexistent/gcc' },
    });
    assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /native kernels not built; training uses the wasm kernels/);
    assert.match(r.stderr, /install g\+\+, make and python3, then run `npm rebuild ringtrain`/);
    // node-gyp's own reason, not just its boilerplate.
    assert.match(r.stderr, /nonexistent/);
    assert.equal(fs.existsSync(path.join(dir, 'build', 'Release', 'ringtrain_native.node')), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
