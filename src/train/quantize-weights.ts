/**
 * Post-training weight quantization of an exported LayersModel, in the manifest format
 * tfjs-converter writes and tf.loadLayersModel reads back (tfjs-core dequantizes on load):
 * float16 halves weights.bin, uint8 quarters it with one affine (min, scale) per weight tensor.
 * Only the stored bytes shrink; the loaded model computes in float32, so accuracy moves by the
 * rounding alone, which `ringtrain export` measures and reports.
 */
import { floatToHalf, RingtrainError } from '../core';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';

export type QuantizeDtype = 'float16' | 'uint8';

interface ModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  [key: string]: unknown;
}

/** uint8 affine quantization of one tensor: v ~ q * scale + min, q in 0..255. */
export function quantizeUint8(values: Float32Array): { q: Uint8Array; min: number; scale: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (values.length === 0) min = max = 0;
  const scale = max > min ? (max - min) / 255 : 1;
  const q = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) q[i] = Math.round(((values[i] as number) - min) / scale);
  return { q, min, scale };
}

/**
 * Writes a quantized copy of the model in `src` to `dst` (model.json, weights.bin, and any other
 * file there such as preprocess.json). Returns the byte sizes of weights.bin before and after.
 */
export function quantizeModelDir(src: string, dst: string, dtype: QuantizeDtype): { before: number; after: number } {
  const json = JSON.parse(fs.readFileSync(path.join(src, 'model.json'), 'utf8')) as ModelJson;
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const data = Buffer.concat(
    json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(src, p)))),
  );
  const parts: Buffer[] = [];
  const out: tf.io.WeightsManifestEntry[] = [];
  let offset = 0;
  for (const spec of specs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.quantization !== undefined)
      throw new RingtrainError(
        'DATA_INVALID',
        `${src}: weight ${spec.name} is already quantized (${spec.quantization.dtype})`,
      );
    const bytes = n * (spec.dtype === 'float32' || spec.dtype === 'int32' ? 4 : 1);
    const raw = data.subarray(offset, offset + bytes);
    offset += bytes;
    if (spec.dtype !== 'float32') {
      parts.push(Buffer.from(raw));
      out.push(spec);
      continue;
    }
    const values = new Float32Array(n);
    new Uint8Array(values.buffer).set(raw);
    if (dtype === 'float16') {
      const h = Uint16Array.from(values, floatToHalf);
      parts.push(Buffer.from(h.buffer));
      out.push({ ...spec, quantization: { dtype: 'float16' } });
    } else {
      const { q, min, scale } = quantizeUint8(values);
      parts.push(Buffer.from(q.buffer));
      out.push({ ...spec, quantization: { dtype: 'uint8', min, scale } });
    }
  }
  if (offset !== data.length)
    throw new RingtrainError(
      'DATA_INVALID',
      `${src}: weights.bin has ${data.length} bytes, the manifest accounts for ${offset}`,
    );
  fs.mkdirSync(dst, { recursive: true });
  const weights = Buffer.concat(parts);
  fs.writeFileSync(path.join(dst, 'weights.bin'), weights);
  const quantized: ModelJson = { ...json, weightsManifest: [{ paths: ['./weights.bin'], weights: out }] };
  fs.writeFileSync(path.join(dst, 'model.json'), JSON.stringify(quantized));
  for (const f of fs.readdirSync(src)) {
    if (f !== 'model.json' && !json.weightsManifest.some((g) => g.paths.some((p) => path.basename(p) === f)))
      fs.copyFileSync(path.join(src, f), path.join(dst, f));
  }
  return { before: data.length, after: weights.length };
}
