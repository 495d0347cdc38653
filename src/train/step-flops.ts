/**
 * Floating-point operations of one training sample through a model's matrix products, the
 * figure a benchmark divides by time to get GFLOP/s: 2 per multiply-add, for every dense and
 * convolution layer forward, the weight gradient backward, and the input gradient backward for
 * every such layer but the first (nobody needs the input batch's gradient). Activations, pooling,
 * batch norm and the loss are left out: they are a few operations per value, not per weight.
 */
import type * as tfl from '@tensorflow/tfjs-layers';

/** Multiply-adds of one sample through `layer` forward (0 for layers without a matrix product). */
function forwardMacs(layer: tfl.layers.Layer): number {
  const name = layer.getClassName();
  const kernel = layer.trainableWeights[0]?.shape ?? [];
  if (name === 'Dense') return (kernel[0] ?? 0) * (kernel[1] ?? 0);
  if (name === 'Conv2D') {
    const out = layer.outputShape as number[];
    return (out[1] ?? 0) * (out[2] ?? 0) * kernel.reduce((a: number, b) => a * (b ?? 1), 1);
  }
  return 0;
}

/** FLOPs of one sample's forward and backward pass through the model's dense and conv layers. */
export function trainingFlopsPerSample(model: tfl.LayersModel): number {
  let flops = 0;
  let first = true;
  for (const layer of model.layers) {
    const macs = forwardMacs(layer);
    if (macs === 0) continue;
    // forward + weight gradient, and the input gradient except for the first such layer
    flops += 2 * macs * (first ? 2 : 3);
    first = false;
  }
  return flops;
}
