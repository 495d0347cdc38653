import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli, tempDir } from './cli';

async function finalAccuracy(compression: string): Promise<number> {
  const out = tempDir(`compress-${compression}`);
  const r = await runCli(
    [
      'launch',
      '--nproc',
      '2',
      '--set',
      'train.epochs=2',
      'data.trainLimit=12000',
      'data.testLimit=2000',
      `cluster.compression=${compression}`,
      'cluster.transport=tcp',
      '--out',
      out,
    ],
    { timeoutMs: 180_000 },
  );
  assert.equal(r.code, 0, r.stdout + r.stderr);
  // Both workers share this host: the tcp transport's payloads go through shared memory.
  for (const rank of [0, 1]) {
    const log = fs.readFileSync(path.join(out, 'logs', `rank ${rank}.log`), 'utf8');
    const notes = log
      .split('\n')
      .filter((l) => l.includes('"ring-path"'))
      .map((l) => (JSON.parse(l) as { msg: string }).msg);
    assert.equal(notes.length, 1, log);
    assert.match(
      notes[0] ?? '',
      new RegExp(
        `^payloads to rank ${1 - rank} at 127\\.0\\.0\\.1:\\d+ go through shared memory \\(32 MiB segment\\)$`,
      ),
    );
    // Two polling ranks sum float32 through one shared file; compressed gradients keep to messages.
    const paths = log
      .split('\n')
      .filter((l) => l.includes('"allreduce-path"'))
      .map((l) => (JSON.parse(l) as { msg: string }).msg);
    const wire = compression === 'none' ? '' : `; ${compression} gradients as messages, as compression asks`;
    assert.deepEqual(
      paths.map((p) => p.replace(/127\.0\.0\.1:\d+/, 'ADDR')),
      [
        `${compression === 'none' ? 'all-reduces' : 'float32 all-reduces'} with rank ${1 - rank} at ADDR go through a shared file (up to 16 MiB each; larger ones as messages${wire})`,
      ],
    );
  }
  const val = fs
    .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { split: string; accuracy: number })
    .filter((l) => l.split === 'val');
  fs.rmSync(out, { recursive: true, force: true });
  return val[val.length - 1]!.accuracy;
}

test('fp16 and bf16 gradients on the wire (tcp, through shared memory between these two workers) train to within 0.3 points of float32', async () => {
  const none = await finalAccuracy('none');
  for (const c of ['fp16', 'bf16']) {
    const acc = await finalAccuracy(c);
    assert.ok(
      Math.abs(acc - none) * 100 <= 0.3,
      `${c}: ${(100 * acc).toFixed(2)}% vs ${(100 * none).toFixed(2)}% uncompressed`,
    );
  }
});
