/**
 * tf.fused.conv2d without a bias or an activation runs as plain tf.conv2d on wasm. tfjs's fused
 * op takes its gradient with customGrad, which computes every input's gradient whether or not
 * anything reads it: a network's first convolution computed the image's gradient every step
 * (2 ms of a ResNet step at batch 64). tf.conv2d's registered gradient computes each input's
 * only when the tape asks for it. The forward is the same kernel either way here (the project's
 * FusedConv2D without a bias is its Conv2D), and both gradients call the same two kernels, so the
 * bits are the same. tfjs-layers reads fused.conv2d from tfjs-core's exports at every call, where
 * it is wrapped; everything else (a bias, an activation, dilation, another backend) goes to tfjs's.
 */
import * as tf from '@tensorflow/tfjs-core';
import tfCore = require('@tensorflow/tfjs-core');

type FusedConv2d = typeof tf.fused.conv2d;
type FusedConvArgs = Parameters<FusedConv2d>[0];
/** tfjs-core's own `fused` object (not a namespace copy), where tfjs-layers reads conv2d. */
const fusedOps = (tfCore as unknown as { fused: { conv2d: FusedConv2d } }).fused;

let installed = false;

export function installPlainConv(): void {
  if (installed) return;
  const fused = fusedOps.conv2d;
  fusedOps.conv2d = ((args: FusedConvArgs) => {
    if (!plain(args)) return fused(args);
    const { x, filter, strides, pad, dataFormat, dimRoundingMode } = args;
    return tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, strides, pad, dataFormat, 1, dimRoundingMode);
  }) as FusedConv2d;
  installed = true;
}

/** No bias, no activation, no dilation, on wasm. */
function plain(a: FusedConvArgs): boolean {
  const linear = a.activation === undefined || a.activation === 'linear';
  const undilated = a.dilations === undefined || tf.backend_util.tupleValuesAreOne(a.dilations);
  return (
    (a.bias === undefined || a.bias === null) &&
    linear &&
    a.preluActivationWeights == null &&
    undilated &&
    tf.getBackend() === 'wasm'
  );
}
