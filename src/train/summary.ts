import type * as tfl from '@tensorflow/tfjs-layers';
import { parameterCount } from './model-mlp';

const countOf = (weights: tfl.LayerVariable[]): number =>
  weights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);

/**
 * torchsummary-style lines: layer, output shape, parameters; then the trainable total, and the
 * non-trainable one when there is any (batch norm's moving statistics: PyTorch calls them
 * buffers and does not count them as parameters, hence a line of their own).
 */
export function summarizeModel(model: tfl.LayersModel): string[] {
  const rows = model.layers.map((l) => {
    const shape = JSON.stringify(l.outputShape).replace(/null/g, '-1');
    return [`${l.name} (${l.getClassName()})`, shape, String(l.countParams())];
  });
  const widths = [0, 1, 2].map((c) =>
    Math.max(...rows.map((r) => (r[c] as string).length), ['Layer', 'Output shape', 'Params'][c]!.length),
  );
  const fmt = (r: string[]): string =>
    r.map((cell, c) => (c === 2 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('   ');
  const lines = [
    fmt(['Layer', 'Output shape', 'Params']),
    ...rows.map(fmt),
    `Trainable params: ${parameterCount(model).toLocaleString('en-US')}`,
  ];
  const frozen = countOf(model.nonTrainableWeights);
  if (frozen > 0) lines.push(`Non-trainable params: ${frozen.toLocaleString('en-US')}`);
  return lines;
}
