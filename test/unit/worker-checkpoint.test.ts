/**
 * The checkpoint store on a real file system: atomic writes, keep-last-K, checksums, and what a
 * reader does with a damaged or half-written checkpoint. The crash test runs the real writer in
 * a child process that SIGKILLs itself halfway through state.bin.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_JOB, type JobSpec } from '../../src/config';
import {
  findLatestCheckpoint,
  listCheckpoints,
  readCheckpoint,
  writeCheckpoint,
  type Checkpoint,
} from '../../src/worker/checkpoint-store';
import { writesCheckpoints } from '../../src/worker/run-dir';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-ckpt-'));

function sample(step: number, n = 1000): Checkpoint {
  const params = new Float32Array(n).map((_, i) => Math.sin(i + step));
  const slot = new Float32Array(n).map((_, i) => i * step);
  return {
    step,
    meta: { step, epoch: step / 10, best: Infinity, nested: { ok: true } },
    arrays: new Map([
      ['params', params],
      ['opt/exp_avg', slot],
    ]),
  };
}

test('a written checkpoint reads back identical, Infinity included, and only the newest K are kept', () => {
  const root = tmp();
  for (const step of [10, 20, 30, 40]) writeCheckpoint(root, sample(step), { keep: 2 });
  assert.deepEqual(
    listCheckpoints(root).map((c) => c.step),
    [40, 30],
  );
  assert.deepEqual(fs.readdirSync(root).sort(), ['ckpt-000000030', 'ckpt-000000040'], 'no temporaries left behind');
  const back = readCheckpoint(path.join(root, 'ckpt-000000040'));
  const want = sample(40);
  assert.equal(back.step, 40);
  assert.deepEqual(back.meta, want.meta);
  assert.deepEqual(back.arrays.get('params'), want.arrays.get('params'));
  assert.deepEqual(back.arrays.get('opt/exp_avg'), want.arrays.get('opt/exp_avg'));
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'ckpt-000000040', 'manifest.json'), 'utf8')) as {
    files: Record<string, { bytes: number; sha256: string }>;
  };
  assert.equal(manifest.files['state.bin']?.bytes, 2 * 1000 * 4);
  assert.match(manifest.files['state.bin']?.sha256 ?? '', /^[0-9a-f]{64}$/);
});

test('rewriting the same step replaces that checkpoint', () => {
  const root = tmp();
  writeCheckpoint(root, sample(10), { keep: 3 });
  const again = sample(10);
  again.meta = { replaced: true };
  writeCheckpoint(root, again, { keep: 3 });
  assert.deepEqual(readCheckpoint(path.join(root, 'ckpt-000000010')).meta, { replaced: true });
  assert.deepEqual(fs.readdirSync(root), ['ckpt-000000010']);
});

test('a corrupted newest checkpoint is named in a warning and the previous one is used', () => {
  const root = tmp();
  for (const step of [10, 20]) writeCheckpoint(root, sample(step), { keep: 3 });
  const state = path.join(root, 'ckpt-000000020', 'state.bin');
  const bytes = fs.readFileSync(state);
  bytes[100] = (bytes[100] as number) ^ 0xff;
  fs.writeFileSync(state, bytes);
  const warnings: string[] = [];
  const found = findLatestCheckpoint(root, (m) => warnings.push(m));
  assert.equal(found?.ckpt.step, 10);
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0]!,
    new RegExp(
      `checkpoint ${path.join(root, 'ckpt-000000020')} is unusable: state.bin sha256 [0-9a-f]{12}\\.\\.\\. does not match the manifest's [0-9a-f]{12}\\.\\.\\. \\(corrupted\\); falling back to the previous checkpoint`,
    ),
  );
});

test('truncated state, a missing manifest and a garbled manifest are each detected and skipped', () => {
  const root = tmp();
  for (const step of [10, 20, 30, 40]) writeCheckpoint(root, sample(step), { keep: 4 });
  fs.truncateSync(path.join(root, 'ckpt-000000040', 'state.bin'), 123);
  fs.rmSync(path.join(root, 'ckpt-000000030', 'manifest.json'));
  fs.writeFileSync(path.join(root, 'ckpt-000000020', 'manifest.json'), '{"format": "ringtrain-chec');
  const warnings: string[] = [];
  // Also through a run directory: <run>/checkpoints/ is where the worker writes them.
  const run = tmp();
  fs.renameSync(root, path.join(run, 'checkpoints'));
  const found = findLatestCheckpoint(run, (m) => warnings.push(m));
  assert.equal(found?.ckpt.step, 10);
  assert.equal(warnings.length, 3);
  assert.match(
    warnings[0]!,
    /ckpt-000000040 is unusable: state.bin has 123 bytes, the manifest says 8000 \(truncated\?\)/,
  );
  assert.match(warnings[1]!, /ckpt-000000030 is unusable: cannot read manifest.json/);
  assert.match(warnings[2]!, /ckpt-000000020 is unusable: cannot read manifest.json \(.*JSON/);
});

test('naming one checkpoint resumes from it, falling back only to older ones', () => {
  const root = tmp();
  for (const step of [10, 20, 30]) writeCheckpoint(root, sample(step), { keep: 3 });
  assert.equal(findLatestCheckpoint(path.join(root, 'ckpt-000000020'), () => undefined)?.ckpt.step, 20);
  fs.rmSync(path.join(root, 'ckpt-000000020', 'state.bin'));
  assert.equal(findLatestCheckpoint(path.join(root, 'ckpt-000000020'), () => undefined)?.ckpt.step, 10);
  assert.equal(
    findLatestCheckpoint(tmp(), () => undefined),
    undefined,
  );
});

test('a process SIGKILLed in the middle of writing a checkpoint leaves the previous one usable', async () => {
  const root = tmp();
  writeCheckpoint(root, sample(10, 200_000), { keep: 3 });
  const store = path.resolve(__dirname, '../../src/worker/checkpoint-store.js');
  // The child writes step 20 (1.6 MB of state) and kills itself once half of state.bin is out.
  const code = `
    const { writeCheckpoint } = require(${JSON.stringify(store)});
    const n = 200000;
    const a = new Float32Array(n).fill(20);
    writeCheckpoint(${JSON.stringify(root)}, { step: 20, meta: { step: 20 }, arrays: new Map([['params', a], ['opt/exp_avg', a]]) }, {
      keep: 3,
      onProgress: (written, total) => { if (written >= total / 2) process.kill(process.pid, 'SIGKILL'); },
    });
    console.log('finished writing: the kill did not happen');
  `;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const { signal } = await new Promise<{ signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (_c, s) => resolve({ signal: s })),
  );
  assert.equal(signal, 'SIGKILL', out);

  // The half-written checkpoint exists only under its temporary name...
  const leftovers = fs.readdirSync(root).filter((n) => n.includes('.tmp-'));
  assert.equal(leftovers.length, 1);
  const partial = fs.statSync(path.join(root, leftovers[0]!, 'state.bin')).size;
  assert.ok(partial >= 800_000 && partial < 1_600_000, `partial state.bin is ${partial} bytes`);
  assert.equal(fs.existsSync(path.join(root, leftovers[0]!, 'manifest.json')), false);
  // ...so a resume sees step 10, intact, with nothing to warn about.
  const warnings: string[] = [];
  const found = findLatestCheckpoint(root, (m) => warnings.push(m));
  assert.equal(found?.ckpt.step, 10);
  assert.deepEqual(found?.ckpt.arrays.get('params'), sample(10, 200_000).arrays.get('params'));
  assert.deepEqual(warnings, []);
  // The next successful write sweeps the leftover.
  writeCheckpoint(root, sample(30), { keep: 3 });
  assert.deepEqual(fs.readdirSync(root).sort(), ['ckpt-000000010', 'ckpt-000000030']);
});

test('a checkpoint root under a file is refused with the path and the fix, not a bare ENOTDIR', () => {
  const dir = tmp();
  const file = path.join(dir, 'notes.txt');
  fs.writeFileSync(file, 'keep me');
  const root = path.join(file, 'ckpts');
  assert.throws(() => writeCheckpoint(root, sample(10), { keep: 1 }), {
    message: `cannot use ${root} as the checkpoint directory: ${file} is a file, not a directory; set checkpoint.dir to a directory you can write to (empty: the run directory's checkpoints/)`,
  });
  assert.equal(fs.readFileSync(file, 'utf8'), 'keep me');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('rank 0 may write checkpoints on step or epoch marks, and when early stopping ends the run', () => {
  const spec = (everySteps: number, everyEpochs: number, patience: number): JobSpec => ({
    ...DEFAULT_JOB,
    checkpoint: { ...DEFAULT_JOB.checkpoint, everySteps, everyEpochs },
    train: { ...DEFAULT_JOB.train, earlyStopping: { ...DEFAULT_JOB.train.earlyStopping, patience } },
  });
  assert.equal(writesCheckpoints(spec(0, 0, 0)), false);
  assert.equal(writesCheckpoints(spec(5, 0, 0)), true);
  assert.equal(writesCheckpoints(spec(0, 1, 0)), true);
  assert.equal(writesCheckpoints(spec(0, 0, 3)), true);
});
