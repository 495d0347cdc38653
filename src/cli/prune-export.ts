/**
 * `ringtrain export --model DIR --prune S [--quantize float16|uint8] [--out DIR2]`: a copy of the
 * model with each kernel pruned to sparsity S by magnitude (then quantized, if asked), and the
 * sparsity and test metrics before and after.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DIRECTORY_USES, makeDirectory } from '../core';
import type { Split } from '../data';
import { pruneModelDir, quantizeModelDir } from '../train';
import { usage } from './args';

interface Metrics {
  samples: number;
  loss: number;
  accuracy?: number;
  mse?: number;
}

export interface PruneExportOptions<M extends Metrics> {
  dir: string;
  /** The --prune text. */
  sparsity: string;
  dtype: string | undefined;
  out: string | undefined;
  test: Split;
  evaluate(dir: string, test: Split): Promise<M>;
  describe(m: M): string;
}

export async function pruneExport<M extends Metrics>(o: PruneExportOptions<M>): Promise<number> {
  const sparsity = Number(o.sparsity);
  if (!(o.sparsity.trim() !== '' && sparsity > 0 && sparsity < 1))
    throw usage(
      `--prune takes the share of each kernel's weights to set to 0, a number above 0 and below 1 (e.g. --prune 0.5), got '${o.sparsity}'`,
    );
  if (o.dtype !== undefined && o.dtype !== 'float16' && o.dtype !== 'uint8')
    throw usage(`--quantize takes float16 or uint8, got '${o.dtype}'`);
  const suffix = `pruned${Math.round(sparsity * 100)}${o.dtype === undefined ? '' : `-${o.dtype}`}`;
  const out = path.resolve(o.out ?? `${o.dir}-${suffix}`);
  if (out === o.dir) throw usage('--out must differ from --model: the original model is kept');
  makeDirectory(out, DIRECTORY_USES.quantized);
  let report;
  if (o.dtype === undefined) {
    report = pruneModelDir(o.dir, out, sparsity);
  } else {
    // Pruned first, in a directory of its own, then quantized into `out`.
    const pruned = fs.mkdtempSync(path.join(path.dirname(out), '.ringtrain-prune-'));
    try {
      report = pruneModelDir(o.dir, pruned, sparsity);
      quantizeModelDir(pruned, out, o.dtype);
    } finally {
      fs.rmSync(pruned, { recursive: true, force: true });
    }
  }
  const before = await o.evaluate(o.dir, o.test);
  const after = await o.evaluate(out, o.test);
  const delta =
    before.accuracy !== undefined
      ? `${(100 * ((after.accuracy as number) - before.accuracy)).toFixed(2)} points`
      : `mse ${((after.mse as number) - (before.mse as number)).toExponential(2)}`;
  const pct = (v: number): string => `${(100 * v).toFixed(1)}%`.padEnd(10);
  process.stdout.write(
    [
      `model       kernel sparsity   test (${o.test.count} samples)`,
      `original    ${pct(report.before)}        loss ${before.loss.toFixed(4)} ${o.describe(before)}`,
      `${suffix.padEnd(11)} ${pct(report.after)}        loss ${after.loss.toFixed(4)} ${o.describe(after)}  (${delta})`,
      `ringtrain: ${report.kernels} kernels pruned by magnitude; model in ${out}`,
    ].join('\n') + '\n',
  );
  return 0;
}
