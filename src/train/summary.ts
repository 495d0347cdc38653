import type * as tfl from '@tensorflow/tfjs-layers';
import { parameterCount } from './model-mlp';

/** torchsummary-style lines: layer, output shape, parameters; then the total. */
export function summarizeModel(model: tfl.LayersModel): string[] {
  const rows = model.layers.map((l) => {
    const shape = JSON.stringify(l.outputShape).replace(/null/g, '-1');
    return [`${l.name} (${l.getClassName()})`, shape, String(l.countParams())];
  });
  const widths = [0, 1, 2].map((c) => Math.max(...rows.map((r) => (r[c] as string).length), ['Layer', 'Output shape', 'Params'][c]!.length));
  const fmt = (r: string[]): string => r.map((cell, c) => (c === 2 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('   ');
  return [fmt(['Layer', 'Output shape', 'Params']), ...rows.map(fmt), `Trainable params: ${parameterCount(model).toLocaleString('en-US')}`];
}
