/**
 * Sum for the wasm backend, fast where training needs it: the bias gradient of a convolution sums
 * dy [N,H,W,C] over its leading axes, where the stock kernel transposes, then reduces. Summing rows
 * into one accumulator row with SIMD reads the data once. Every other reduction (trailing or
 * interleaved axes, int32, small tensors, channel counts not a multiple of 4) goes to the stock
 * kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { heapF32, replaceWasmKernel, run, simdOps, stockKernel, type WasmKernelArgs } from './wasm-heap';

/** Below this many elements the stock kernel's fixed costs are no worse. */
const MIN_ELEMENTS = 4096;

let installed = false;

export function installWasmSum(): void {
  if (installed) return;
  const stock = stockKernel('Sum');
  if (stock === undefined) return;
  replaceWasmKernel('Sum', (args) => sum(args) ?? run(stock, args.backend, args.inputs, args.attrs));
  installed = true;
}

/** The sum over leading axes, or undefined when this is not that case. */
function sum({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo | undefined {
  const { x } = inputs as { x: tf.TensorInfo };
  const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
  const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
  const rows = x.shape.slice(0, axes.length).reduce((a, b) => a * b, 1);
  const cols = x.shape.slice(axes.length).reduce((a, b) => a * b, 1);
  const simd = simdOps(backend);
  if (!leading || x.dtype !== 'float32' || cols % 4 !== 0 || rows * cols < MIN_ELEMENTS || simd === undefined)
    return undefined;
  const shape = keepDims ? x.shape.map((d, i) => (i < axes.length ? 1 : d)) : x.shape.slice(axes.length);
  const out = backend.makeOutput(shape, 'float32');
  const outView = heapF32(backend, out);
  outView.fill(0);
  simd.columnSum(heapF32(backend, x).byteOffset, outView.byteOffset, rows, cols);
  return out;
}
