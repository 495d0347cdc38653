/**
 * Multiply, Add, Sub and RealDiv for the wasm backend, where both operands are float32 and either
 * share one shape, or one is a per-channel vector ([C] or [1,...,1,C]) along the other's last axis
 * or a single value: one native loop (native/channel-ops.cc). The stock kernels broadcast through
 * a general index walk; an activation [64,28,28,16] times a channel vector, the most common
 * operation of batch norm's gradient, took 1.1 to 2.5 ms, divided by a scalar (the mean's
 * gradient) 0.6 ms. One float32 operation per element: the same bits as the stock kernels.
 * Everything else (int32, other broadcasts, small tensors, no addon) goes to the stock kernel.
 * Also here: the ReLU's and Square's gradients as one such loop each (GRADIENT_KERNELS, used by
 * gradients-wasm.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeGemm } from '../native';
import { MIN_ELEMENTS, heapWithOffsets, replaceWasmKernel, run, stockKernel, type WasmKernelArgs } from './wasm-heap';

/** The addon's operation codes (channel-ops.h). */
export const BINARY_OPS = { Multiply: 0, Add: 1, Sub: 2, RealDiv: 3 } as const;
/**
 * Kernels of dy and x of one shape: dy times tfjs's step(x) (wasm's: NaN for NaN), and dy times
 * (x times 2), with the addon's operation codes.
 */
export const GRADIENT_KERNELS = { RingtrainReluGrad: 4, RingtrainSquareGrad: 5 } as const;
const GRADIENT_OPS: number[] = Object.values(GRADIENT_KERNELS);
/** How the second operand lines up with the first (channel-ops.h's Broadcast). */
export const BROADCAST = { same: 0, channel: 1, scalar: 2 } as const;

let installed = false;

export function installWasmElementwise(): void {
  if (installed) return;
  for (const [name, op] of Object.entries(BINARY_OPS)) {
    const stock = stockKernel(name);
    if (stock === undefined) continue;
    replaceWasmKernel(name, (args) => elementwise(args, op) ?? run(stock, args.backend, args.inputs, args.attrs));
  }
  // Only asked for where they can run (gradients-wasm.ts): same-shape float32, with the addon.
  for (const [name, op] of Object.entries(GRADIENT_KERNELS)) {
    replaceWasmKernel(name, (args) => {
      const out = elementwise(args, op);
      if (out === undefined) throw new Error(`${name} takes float32 dy and x of one shape, with the addon`);
      return out;
    });
  }
  installed = true;
}

/** True when `small` is one value per entry of `big`'s last axis, with no axes `big` lacks. */
export function isChannelVector(small: readonly number[], big: readonly number[]): boolean {
  const c = big.at(-1);
  return (
    c !== undefined &&
    small.length >= 1 &&
    small.length <= big.length &&
    small.at(-1) === c &&
    small.slice(0, -1).every((d) => d === 1)
  );
}

/** How `small` broadcasts against `big` on the native path, or undefined for the stock kernel. */
function layoutOf(small: number[], big: number[]): number | undefined {
  if (tf.util.arraysEqual(small, big)) return BROADCAST.same;
  if (isChannelVector(small, big)) return BROADCAST.channel;
  return small.length <= big.length && tf.util.sizeFromShape(small) === 1 ? BROADCAST.scalar : undefined;
}

function elementwise({ inputs, backend }: WasmKernelArgs, op: number): tf.TensorInfo | undefined {
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const gemm = nativeGemm();
  if (gemm === undefined || a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
  // The larger operand gives the output's shape; `swapped` when it was the second.
  const swapped = tf.util.sizeFromShape(b.shape) > tf.util.sizeFromShape(a.shape);
  const [big, small] = swapped ? [b, a] : [a, b];
  const n = tf.util.sizeFromShape(big.shape);
  const layout = layoutOf(small.shape, big.shape);
  if (n < MIN_ELEMENTS || layout === undefined || (GRADIENT_OPS.includes(op) && layout !== BROADCAST.same))
    return undefined;
  const cols = layout === BROADCAST.channel ? (big.shape.at(-1) as number) : n;
  const out = backend.makeOutput(big.shape.slice(), 'float32');
  const { heap, offsets } = heapWithOffsets(backend, out, big, small);
  const [outAt, bigAt, smallAt] = offsets as [number, number, number];
  gemm.binaryOp(heap.buffer, op, { out: outAt, a: bigAt, b: smallAt }, n / cols, cols, layout, swapped);
  return out;
}
