/**
 * What the coordinator compares to admit a worker: every rank must build the same model, and
 * layer names differ between processes where shapes must not.
 */
import { createHash } from 'node:crypto';
import type * as tfl from '@tensorflow/tfjs-layers';
import { ParamLayout } from '../train';

/** "<parameters>:<sha256 of the trainable shapes in order>". */
export function fingerprintModel(model: tfl.LayersModel): string {
  const shapes = ParamLayout.ofModel(model).shapes();
  const params = shapes.reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
  return `${params}:${createHash('sha256').update(JSON.stringify(shapes)).digest('hex')}`;
}
