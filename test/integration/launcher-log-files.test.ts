/**
 * The launcher's children write their logs without waiting for the launcher: a launcher that
 * cannot read (stopped at a paused terminal; here, its event loop blocked) must not stall them.
 * Real child processes run a stand-in entry, so the test needs no training.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_JOB } from '../../src/config';
import { launch } from '../../src/launcher';

/** Coordinator: reports its ports and lingers. Worker: waits 500 ms, writes 2 MB of log lines to stderr, notes when it was done, exits. */
const ENTRY = `
const fs = require('node:fs');
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
if (process.argv[2] === 'coordinator') {
  process.send({ kind: 'listening', grpcPort: 1, metricsPort: 2 });
  setTimeout(() => process.exit(0), 6000);
} else {
  sleep(500);
  const line = JSON.stringify({ level: 30, msg: 'x'.repeat(200) }) + '\\n';
  for (let i = 0; i < 10000; i++) fs.writeSync(2, line);
  fs.writeFileSync(process.env.DONE_FILE, String(Date.now()));
  process.exit(0);
}
`;

test('a worker writes 2 MB of log while the launcher cannot read, and is not held up by it', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-logfiles-'));
  const entry = path.join(dir, 'entry.js');
  fs.writeFileSync(entry, ENTRY);
  const done = path.join(dir, 'done');
  process.env.DONE_FILE = done;
  const out = path.join(dir, 'run');
  const lines: string[] = [];
  try {
    const result = launch({
      spec: { ...DEFAULT_JOB, cluster: { ...DEFAULT_JOB.cluster, worldSize: 1 } },
      nproc: 1,
      outDir: out,
      entry,
      print: (l) => lines.push(l),
    });
    const workerLog = path.join(out, 'logs', 'rank 0.log');
    const until = Date.now() + 20_000;
    while (!fs.existsSync(workerLog) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.ok(fs.existsSync(workerLog), 'the worker never started');
    // The launcher reads nothing for 4 s: its event loop is blocked, as a stopped process's would be.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 4000);
    const unblocked = Date.now();
    const code = await result;
    assert.equal(code, 0, lines.join('\n'));
    const finishedAt = Number(fs.readFileSync(done, 'utf8'));
    assert.ok(
      finishedAt < unblocked,
      `the worker finished writing ${finishedAt - unblocked} ms after the launcher could read again`,
    );
    assert.equal(
      fs.statSync(workerLog).size,
      10000 * (JSON.stringify({ level: 30, msg: 'x'.repeat(200) }).length + 1),
      'every line in the file',
    );
  } finally {
    delete process.env.DONE_FILE;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
