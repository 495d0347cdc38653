import { after, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_JOB, jobHash, loadJob } from '../../src/config';
import { configError } from './support';

const dir = mkdtempSync(join(tmpdir(), 'ringtrain-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function writeJob(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const YAML_JOB = `
name: quick
data:
  batchSize: 32   # per worker
model:
  hidden: [256, 128]
train:
  epochs: 2
`;

test('a YAML job file loads with defaults filling the rest', () => {
  const spec = loadJob({ file: writeJob('job.yaml', YAML_JOB), env: {} });
  assert.equal(spec.name, 'quick');
  assert.equal(spec.data.batchSize, 32);
  assert.deepEqual(spec.model.hidden, [256, 128]);
  assert.equal(spec.train.epochs, 2);
  assert.equal(spec.train.lr, DEFAULT_JOB.train.lr);
  assert.equal(spec.cluster.worldSize, DEFAULT_JOB.cluster.worldSize);
});

test('a JSON job file loads to the same spec and hash as the equivalent YAML', () => {
  const json = { train: { epochs: 2 }, model: { hidden: [256, 128] }, data: { batchSize: 32 }, name: 'quick' };
  const fromJson = loadJob({ file: writeJob('job.json', JSON.stringify(json, null, 2)), env: {} });
  const fromYaml = loadJob({ file: writeJob('job.yml', YAML_JOB), env: {} });
  assert.deepEqual(fromJson, fromYaml);
  assert.equal(jobHash(fromJson), jobHash(fromYaml));
});

test('no file and no overrides gives the defaults', () => {
  assert.deepEqual(loadJob({ env: {} }), DEFAULT_JOB);
  assert.deepEqual(loadJob({ file: writeJob('empty.yaml', '# nothing yet\n'), env: {} }), DEFAULT_JOB);
});

test('--set beats RINGTRAIN_SET, which beats the file', () => {
  const spec = loadJob({
    file: writeJob('layers.yaml', 'train:\n  epochs: 3\n  lr: 0.5\n'),
    env: { RINGTRAIN_SET: 'train.epochs=4; data.batchSize=16;' },
    sets: ['train.epochs=5'],
  });
  assert.equal(spec.train.epochs, 5);
  assert.equal(spec.data.batchSize, 16);
  assert.equal(spec.train.lr, 0.5);
});

test('a bad key in the file and a bad --set value are reported together with their sources', () => {
  const file = writeJob('mixed.yaml', 'data:\n  batchsize: 32\n');
  const message = configError(() => loadJob({ file, sets: ['train.momentum=1.5'], env: {} }));
  assert.ok(message.includes(`${file}: unknown field 'data.batchsize' (did you mean 'data.batchSize'?)`), message);
  assert.ok(message.includes('--set: train.momentum must be a number >= 0 and < 1, got 1.5'), message);
});

test('a missing file is named with the reason', () => {
  const file = join(dir, 'nope.yaml');
  assert.equal(
    configError(() => loadJob({ file, env: {} })),
    `cannot read job file '${file}': no such file (check the path, relative to the current directory)`,
  );
});

test('a YAML syntax error names the file, the line and the reason', () => {
  const file = writeJob('broken.yaml', 'train:\n  epochs: 2\n  epochs: 3\n');
  const message = configError(() => loadJob({ file, env: {} }));
  assert.equal(message.split('\n')[0], `cannot parse job file '${file}' at line 3, column 3: Map keys must be unique`);
});

test('a JSON syntax error names the file and the line', () => {
  const file = writeJob('broken.json', '{\n  "train": {"epochs": 2\n}\n');
  const message = configError(() => loadJob({ file, env: {} }));
  assert.match(message, /^cannot parse job file '.*broken\.json' at line \d+, column \d+: /);
});

test('a file with an unsupported extension is refused before reading', () => {
  const message = configError(() => loadJob({ file: join(dir, 'job.toml'), env: {} }));
  assert.match(message, /job file '.*job\.toml' has extension '\.toml'; use one of \.yaml, \.yml, \.json/);
});

test('an unreadable file and a malformed --set item are reported together', () => {
  const message = configError(() => loadJob({ file: join(dir, 'gone.yaml'), sets: ['epochs'], env: {} }));
  const lines = message.split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0] ?? '', /cannot read job file '.*gone\.yaml'/);
  assert.match(lines[1] ?? '', /--set: 'epochs' has no '='/);
});

test('the job hash ignores key order and changes with any value', () => {
  const a = loadJob({ file: writeJob('a.yaml', 'seed: 1\nname: h\n'), env: {} });
  const b = loadJob({ file: writeJob('b.json', '{"name": "h", "seed": 1}'), env: {} });
  const reordered = Object.fromEntries(Object.entries(a).reverse()) as typeof a;
  assert.match(jobHash(a), /^[0-9a-f]{64}$/);
  assert.equal(jobHash(a), jobHash(b));
  assert.equal(jobHash(a), jobHash(reordered));
  assert.notEqual(jobHash(a), jobHash({ ...a, seed: 2 }));
  assert.notEqual(jobHash(a), jobHash({ ...a, model: { ...a.model, hidden: [128, 10] } }));
});
