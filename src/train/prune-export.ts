/**
 * One-shot magnitude pruning of a saved model (`ringtrain export --prune S`): every dense and
 * conv kernel (a float32 weight of two or more dimensions) loses its round(S x size)
 * smallest-magnitude entries to 0, as torch's prune.l1_unstructured does per tensor. The files
 * keep the dense format (the zeros are stored): what shrinks is the number of live weights, not
 * the bytes; a sparse runtime or compression is what turns that into size.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import { RingtrainError } from '../core';
import { pruneByMagnitude, sparsityOf, type PrunableSlot } from './prune';

interface ModelJson {
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  [key: string]: unknown;
}

/** Sparsity of the kernels of a model directory, and after pruning `dst`'s. */
export interface PruneReport {
  before: number;
  after: number;
  /** Kernels pruned. */
  kernels: number;
}

/** Writes a copy of the model in `src` to `dst` with each kernel pruned to `sparsity`. */
export function pruneModelDir(src: string, dst: string, sparsity: number): PruneReport {
  if (!(sparsity > 0 && sparsity < 1))
    throw new RingtrainError(
      'CONFIG_INVALID',
      `--prune ${sparsity}: give the share of each kernel's weights to set to 0, a number above 0 and below 1 (e.g. 0.5)`,
    );
  const json = JSON.parse(fs.readFileSync(path.join(src, 'model.json'), 'utf8')) as ModelJson;
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const data = Buffer.concat(
    json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(src, p)))),
  );
  // An aligned float32 view of the whole file; every weight is float32 (checked below).
  const all = new Float32Array(data.length / 4);
  new Uint8Array(all.buffer).set(data);
  const slots: PrunableSlot[] = [];
  let offset = 0;
  for (const spec of specs) {
    if (spec.quantization !== undefined || spec.dtype !== 'float32') {
      throw new RingtrainError(
        'DATA_INVALID',
        `${src}: weight ${spec.name} is ${spec.quantization?.dtype ?? spec.dtype}, not float32: prune the float32 model (add --quantize to the same export to quantize after pruning)`,
      );
    }
    const size = spec.shape.reduce((a, b) => a * b, 1);
    slots.push({ shape: spec.shape, offset, size });
    offset += size;
  }
  if (offset * 4 !== data.length)
    throw new RingtrainError(
      'DATA_INVALID',
      `${src}: weights.bin has ${data.length} bytes, the manifest accounts for ${offset * 4}`,
    );
  const before = sparsityOf(all, slots);
  pruneByMagnitude(all, new Float32Array(all.length).fill(1), slots, sparsity);
  fs.mkdirSync(dst, { recursive: true });
  fs.writeFileSync(path.join(dst, 'weights.bin'), Buffer.from(all.buffer));
  fs.writeFileSync(
    path.join(dst, 'model.json'),
    JSON.stringify({ ...json, weightsManifest: [{ paths: ['./weights.bin'], weights: specs }] }),
  );
  for (const f of fs.readdirSync(src)) {
    if (f !== 'model.json' && !json.weightsManifest.some((g) => g.paths.some((p) => path.basename(p) === f)))
      fs.copyFileSync(path.join(src, f), path.join(dst, f));
  }
  return { before, after: sparsityOf(all, slots), kernels: slots.filter((s) => s.shape.length >= 2).length };
}
