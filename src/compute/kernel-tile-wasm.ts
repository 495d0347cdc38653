/**
 * Tile for the wasm backend. The stock kernel works out every output element's source index,
 * about 50 ns each: batch norm's gradient and broadcastTo (the gradient of every mean and sum)
 * tile a per-channel [1,1,1,C] vector to a whole activation, 40 ms for [64,28,28,16], which made
 * tiling the largest cost of a ResNet step. Here the input's rows are placed once and each axis's
 * repeats are doubling copies of contiguous blocks (copyWithin, a memmove), innermost axis first.
 * Copies move bits, so the result is the stock kernel's exactly. Dtypes of other widths than 4
 * bytes (bool) and empty outputs go to the stock kernel.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { heapWithOffsets, replaceWasmKernel, run, stockKernel, type WasmKernelArgs } from './wasm-heap';

let installed = false;

export function installWasmTile(): void {
  if (installed) return;
  const stock = stockKernel('Tile');
  if (stock === undefined) return;
  replaceWasmKernel('Tile', (args) => tile(args) ?? run(stock, args.backend, args.inputs, args.attrs));
  installed = true;
}

/** Input sizes and repeats per axis. */
interface Plan {
  sizes: number[];
  reps: number[];
}

/**
 * Merges an axis into the one before it when it is not repeated (tiling [a, b] by [p, 1] is
 * tiling [a*b] by [p]) and drops axes of size 1 repeated once: fewer, longer copies.
 */
export function simplifyTile(shape: readonly number[], reps: readonly number[]): Plan {
  const sizes: number[] = [];
  const out: number[] = [];
  shape.forEach((s, k) => {
    const p = reps[k] ?? 1;
    if (s === 1 && p === 1) return;
    if (p === 1 && sizes.length > 0) sizes[sizes.length - 1] = (sizes.at(-1) as number) * s;
    else {
      sizes.push(s);
      out.push(p);
    }
  });
  return { sizes, reps: out };
}

function tile({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo | undefined {
  const { x } = inputs as { x: tf.TensorInfo };
  const { reps } = attrs as unknown as tf.TileAttrs;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') return undefined;
  const shape = x.shape.map((s, k) => s * (reps[k] ?? 1));
  if (shape.some((s) => s === 0)) return undefined;
  const out = backend.makeOutput(shape, x.dtype);
  // Views after the allocation: it may have grown (and detached) the heap.
  const { heap, offsets } = heapWithOffsets(backend, x, out);
  fill(heap, offsets[0] as number, offsets[1] as number, simplifyTile(x.shape, reps));
  return out;
}

/** Writes the tiling of the input at `src` (plan's sizes) to `dst`, all in `heap`. */
function fill(heap: Float32Array, src: number, dst: number, { sizes, reps }: Plan): void {
  const r = sizes.length;
  if (r === 0) {
    heap.copyWithin(dst, src, src + 1);
    return;
  }
  // outStride[k]: elements of the output per step along axis k.
  const outStride = new Array<number>(r).fill(1);
  for (let k = r - 2; k >= 0; k--)
    outStride[k] = (outStride[k + 1] as number) * (sizes[k + 1] as number) * (reps[k + 1] as number);
  const row = sizes[r - 1] as number;
  // The input's rows, each at its own index in the output, repeated along the last axis.
  forEachPrefix(sizes, r - 1, (index, prefix) => {
    const at = dst + offsetOf(prefix, outStride);
    heap.copyWithin(at, src + index * row, src + (index + 1) * row);
    repeat(heap, at, row, reps[r - 1] as number);
  });
  // Then each axis's blocks, outermost last, repeated along that axis.
  for (let k = r - 2; k >= 0; k--) {
    const block = (sizes[k] as number) * (outStride[k] as number);
    forEachPrefix(sizes, k, (_, prefix) => repeat(heap, dst + offsetOf(prefix, outStride), block, reps[k] as number));
  }
}

/** Calls `f` for every index over the first `axes` sizes, with its flat position among them. */
function forEachPrefix(
  sizes: readonly number[],
  axes: number,
  f: (index: number, prefix: readonly number[]) => void,
): void {
  const prefix = new Array<number>(axes).fill(0);
  const count = sizes.slice(0, axes).reduce((a, b) => a * b, 1);
  for (let index = 0; index < count; index++) {
    f(index, prefix);
    for (let k = axes - 1; k >= 0; k--) {
      prefix[k] = (prefix[k] as number) + 1;
      if ((prefix[k] as number) < (sizes[k] as number)) break;
      prefix[k] = 0;
    }
  }
}

const offsetOf = (prefix: readonly number[], stride: readonly number[]): number =>
  prefix.reduce((at, i, k) => at + i * (stride[k] as number), 0);

/** heap[at, at + len) repeated `times` times in a row, doubling what is copied each pass. */
function repeat(heap: Float32Array, at: number, len: number, times: number): void {
  const total = len * times;
  for (let done = len; done < total;) {
    const n = Math.min(done, total - done);
    heap.copyWithin(at + done, at, at + n);
    done += n;
  }
}
