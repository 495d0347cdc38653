/**
 * Sum and Mean for the wasm backend, fast where training needs them: a convolution's bias
 * gradient sums dy [N,H,W,C] over its leading axes, and batch norm's statistics are means of an
 * activation over them, where the stock kernels transpose, then reduce. Summing rows into one
 * accumulator row with SIMD reads the data once; each column is still added row by row, in the
 * stock kernel's order. Every other reduction (trailing or interleaved axes, int32, small tensors,
 * channel counts not a multiple of 4) goes to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeGemm } from '../native';
import { MIN_ELEMENTS, heapF32, replaceWasmKernel, run, simdOps, stockKernel, type WasmKernelArgs } from './wasm-heap';

let installed = false;

export function installWasmSum(): void {
  if (installed) return;
  const sum = stockKernel('Sum');
  const mean = stockKernel('Mean');
  if (sum === undefined || mean === undefined) return;
  replaceWasmKernel('Sum', (args) => leadingSum(args, false) ?? run(sum, args.backend, args.inputs, args.attrs));
  replaceWasmKernel('Mean', (args) => leadingSum(args, true) ?? run(mean, args.backend, args.inputs, args.attrs));
  installed = true;
}

/** Whether this kernel (not the stock one) sums a float32 `shape` over `axes`: leading axes, columns in fours, enough values. */
export function takesLeadingSum(shape: number[], axes: number[]): boolean {
  const sorted = [...axes].sort((a, b) => a - b);
  const leading = sorted.length > 0 && sorted.length < shape.length && sorted.every((a, i) => a === i);
  const cols = shape.slice(sorted.length).reduce((a, b) => a * b, 1);
  return leading && cols % 4 === 0 && tf.util.sizeFromShape(shape) >= MIN_ELEMENTS;
}

/** The sum (or mean) over leading axes, or undefined when this is not that case. */
function leadingSum({ inputs, backend, attrs }: WasmKernelArgs, mean: boolean): tf.TensorInfo | undefined {
  const { x } = inputs as { x: tf.TensorInfo };
  const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
  const axes = tf.util.parseAxisParam(axis, x.shape);
  const simd = simdOps(backend);
  if (x.dtype !== 'float32' || !takesLeadingSum(x.shape, axes) || simd === undefined) return undefined;
  const rows = x.shape.slice(0, axes.length).reduce((a, b) => a * b, 1);
  const cols = x.shape.slice(axes.length).reduce((a, b) => a * b, 1);
  const shape = keepDims ? x.shape.map((d, i) => (i < axes.length ? 1 : d)) : x.shape.slice(axes.length);
  const out = backend.makeOutput(shape, 'float32');
  const outView = heapF32(backend, out);
  const xView = heapF32(backend, x);
  // The addon adds in the same order, about three times as fast.
  const gemm = nativeGemm();
  if (gemm !== undefined) gemm.columnSum(xView.buffer, xView.byteOffset / 4, rows, cols, outView.byteOffset / 4);
  else {
    outView.fill(0);
    simd.columnSum(xView.byteOffset, outView.byteOffset, rows, cols);
  }
  // A float32 sum divided by an integer, rounded once to float32, as the stock kernel divides.
  if (mean) for (let i = 0; i < cols; i++) outView[i] = (outView[i] as number) / rows;
  return out;
}
