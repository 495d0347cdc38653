/**
 * Post-training weight quantization of an exported LayersModel, in the manifest format
 * tfjs-converter writes and tf.loadLayersModel reads back (tfjs-core dequantizes on load):
 * float16 halves weights.bin, uint8 quarters it with one affine (min, scale) per weight tensor.
 * Only the stored bytes shrink; the loaded model computes in float32, so accuracy moves by the
 * rounding alone, which `ringtrain export` measures and reports.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import { RingtrainError } from '../config/errors';

export type QuantizeDtype = 'float16' | 'uint8';

interface ModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  [key: string]: unknown;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 half bits of a float32, round to nearest even; overflow goes to infinity. */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (rem > mid || (rem === mid && (half & 1) === 1) ? half + 1 : half);
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  return sign | (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1) ? half + 1 : half);
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
  const data = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(src, p)))));
  const parts: Buffer[] = [];
  const out: tf.io.WeightsManifestEntry[] = [];
  let offset = 0;
  for (const spec of specs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.quantization !== undefined) throw new RingtrainError('DATA_INVALID', `${src}: weight ${spec.name} is already quantized (${spec.quantization.dtype})`);
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
  if (offset !== data.length) throw new RingtrainError('DATA_INVALID', `${src}: weights.bin has ${data.length} bytes, the manifest accounts for ${offset}`);
  fs.mkdirSync(dst, { recursive: true });
  const weights = Buffer.concat(parts);
  fs.writeFileSync(path.join(dst, 'weights.bin'), weights);
  const quantized: ModelJson = { ...json, weightsManifest: [{ paths: ['./weights.bin'], weights: out }] };
  fs.writeFileSync(path.join(dst, 'model.json'), JSON.stringify(quantized));
  for (const f of fs.readdirSync(src)) {
    if (f !== 'model.json' && !json.weightsManifest.some((g) => g.paths.some((p) => path.basename(p) === f))) fs.copyFileSync(path.join(src, f), path.join(dst, f));
  }
  return { before: data.length, after: weights.length };
}
