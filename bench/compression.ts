/**
 * `npm run bench:compression`: the convergence check for wire compression. Trains the default
 * MNIST job on 2 workers with compression none, fp16 and bf16 (same seed) and prints the final
 * test accuracy of each and its distance from the uncompressed run, with samples/s.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const BIN = path.resolve(__dirname, '../../bin/ringtrain.js');

function run(compression: string, extra: string[]): { acc: number; samplesPerSec: number } {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-compress-'));
  const r = spawnSync(
    process.execPath,
    [BIN, 'launch', '--nproc', '2', '--out', out, '--set', `cluster.compression=${compression}`, ...extra],
    { encoding: 'utf8', timeout: 1_800_000 },
  );
  if (r.status !== 0) throw new Error(`compression ${compression} failed:\n${r.stdout}\n${r.stderr}`);
  const lines = fs
    .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { split: string; accuracy: number; samplesPerSec: number });
  fs.rmSync(out, { recursive: true, force: true });
  const val = lines.filter((l) => l.split === 'val');
  const train = lines.filter((l) => l.split === 'train');
  return {
    acc: val[val.length - 1]!.accuracy,
    samplesPerSec: train.reduce((s, l) => s + l.samplesPerSec, 0) / train.length,
  };
}

const extra = process.argv.slice(2);
const base = run('none', extra);
process.stdout.write(
  `MNIST MLP, 2 workers, default job${extra.length ? ` (${extra.join(' ')})` : ''}\n| compression | test accuracy | points from none | samples/s |\n| --- | ---: | ---: | ---: |\n`,
);
process.stdout.write(`| none | ${(100 * base.acc).toFixed(2)}% | 0.00 | ${base.samplesPerSec.toFixed(0)} |\n`);
for (const c of ['fp16', 'bf16']) {
  const r = run(c, extra);
  process.stdout.write(
    `| ${c} | ${(100 * r.acc).toFixed(2)}% | ${(100 * (r.acc - base.acc)).toFixed(2)} | ${r.samplesPerSec.toFixed(0)} |\n`,
  );
}
