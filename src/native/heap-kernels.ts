/**
 * The addon's kernels that work in place on the wasm heap (gemm.cc, patches.cc, channel-ops.cc):
 * their raw N-API signatures, and the same with named arguments, as the compute kernels call them.
 */

/** One operand: a float offset into the heap and its strides, so a transposed view costs nothing. */
export interface Strided {
  at: number;
  rowStride: number;
  colStride: number;
}

/** The raw functions, every offset in floats into the heap's ArrayBuffer. */
export interface RawHeapKernels {
  kernel: string;
  oneChannelLanes: number;
  oneChannelMaxTaps: number;
  sgemm(
    heap: ArrayBufferLike,
    m: number,
    n: number,
    k: number,
    a: number,
    ars: number,
    acs: number,
    b: number,
    brs: number,
    bcs: number,
    c: number,
    ldc: number,
    accumulate: boolean,
  ): void;
  im2col(heap: ArrayBufferLike, to: number, from: number, ...geometry: number[]): void;
  col2im(heap: ArrayBufferLike, to: number, from: number, ...geometry: number[]): void;
  convOneChannel(heap: ArrayBufferLike, out: number, x: number, filter: number, ...geometry: number[]): void;
  convOneChannelFilterGrad(heap: ArrayBufferLike, dw: number, x: number, dy: number, ...geometry: number[]): void;
  binaryOp(heap: ArrayBufferLike, op: number, out: number, a: number, b: number, ...shape: number[]): void;
  batchNorm(heap: ArrayBufferLike, out: number, x: number, ...rest: number[]): void;
  batchNormGrad(heap: ArrayBufferLike, dy: number, x: number, ...rest: number[]): void;
  momentsGrad(heap: ArrayBufferLike, x: number, mean: number, ...rest: number[]): void;
  variance(heap: ArrayBufferLike, x: number, mean: number, rows: number, cols: number, out: number): void;
  columnSum(heap: ArrayBufferLike, x: number, rows: number, cols: number, out: number): void;
}

/** Where batch norm's gradient reads (floats into the heap); scale is optional. */
export interface BatchNormGradIn {
  dy: number;
  x: number;
  mean: number;
  variance: number;
  scale?: number;
}

/** Where it writes: dx like x, the others one value per channel. */
export interface BatchNormGradOut {
  dx: number;
  mean: number;
  variance: number;
  scale: number;
  offset: number;
}

/** Where batch norm's inputs lie in the heap (floats); offset and scale are optional. */
export interface BatchNormAt {
  x: number;
  mean: number;
  variance: number;
  offset?: number;
  scale?: number;
}

/** An NHWC convolution's patch geometry (src/compute/im2col.ts builds it from tfjs's conv info). */
export interface Patches {
  n: number;
  h: number;
  w: number;
  c: number;
  oh: number;
  ow: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  top: number;
  left: number;
}

export interface NativeGemm {
  /** Which microkernel the addon picked for this CPU. */
  kernel: string;
  /** heap[c + i*ldc + j] (+)= sum over p < k of A(i, p) * B(p, j), for i < m, j < n. */
  sgemm(
    heap: ArrayBufferLike,
    m: number,
    n: number,
    k: number,
    a: Strided,
    b: Strided,
    c: number,
    ldc: number,
    accumulate?: boolean,
  ): void;
  /** im2col (patches.cc): the patches of the input at heap[x] as rows of heap[cols]; offsets in floats. */
  im2col(heap: ArrayBufferLike, cols: number, x: number, g: Patches): void;
  /** Its adjoint: each patch row of heap[cols] added back onto the input gradient at heap[dx]. */
  col2im(heap: ArrayBufferLike, dx: number, cols: number, g: Patches): void;
  /**
   * Where convOneChannel runs (conv-one-channel.h): output channels in multiples of `lanes` (0:
   * not on this CPU), at most `maxTaps` taps (KH*KW).
   */
  oneChannel: { lanes: number; maxTaps: number };
  /**
   * A convolution of one input channel (g.c 1, within `oneChannel`) from the input
   * directly (conv-one-channel.cc), with the bits of im2col and the product: heap[out] from the
   * input at heap[x] and the [taps, oc] filter at heap[filter].
   */
  convOneChannel(heap: ArrayBufferLike, out: number, x: number, filter: number, oc: number, g: Patches): void;
  /** Its filter's gradient, added to heap[dw] ([taps, oc]), from the input and heap[dy]. */
  convOneChannelFilterGrad(heap: ArrayBufferLike, dw: number, x: number, dy: number, oc: number, g: Patches): void;
  /**
   * heap[out] = a op b over rows x cols (channel-ops.cc; op 0 mul, 1 add, 2 sub, 3 div, 4 a times
   * step(b)), b as long, one value per column or one value (`layout` 0, 1, 2: channel-ops.h's
   * Broadcast); `swapped` computes b op a.
   */
  binaryOp(
    heap: ArrayBufferLike,
    op: number,
    at: { out: number; a: number; b: number },
    rows: number,
    cols: number,
    layout: number,
    swapped: boolean,
  ): void;
  /** tfjs's FusedBatchNorm over rows x cols, one mean, variance, offset and scale per column. */
  batchNorm(heap: ArrayBufferLike, out: number, at: BatchNormAt, epsilon: number, rows: number, cols: number): void;
  /** tfjs's FusedBatchNorm gradient in one pass (channel-ops.cc batchNormGradChannels). */
  batchNormGrad(
    heap: ArrayBufferLike,
    at: BatchNormGradIn,
    epsilon: number,
    rows: number,
    cols: number,
    out: BatchNormGradOut,
  ): void;
  /**
   * The rest of x's gradient when mean and variance are tf.moments of x, added to heap[dx]
   * (channel-ops.cc momentsGradChannels), from their gradients dMean and dVariance.
   */
  momentsGrad(
    heap: ArrayBufferLike,
    at: { x: number; mean: number; dMean: number; dVariance: number },
    rows: number,
    cols: number,
    dx: number,
  ): void;
  /** tf.moments' variance of heap[x] (rows x cols) given its per-column mean (channel-ops.cc varianceChannels). */
  variance(heap: ArrayBufferLike, at: { x: number; mean: number }, rows: number, cols: number, out: number): void;
  /** heap[out] = the column sums of heap[x] (rows x cols), row by row (channel-ops.cc columnSums). */
  columnSum(heap: ArrayBufferLike, x: number, rows: number, cols: number, out: number): void;
}

/** The geometry as the addon's arguments take it. */
const patchArgs = (g: Patches): number[] => [g.n, g.h, g.w, g.c, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.top, g.left];

/** The addon's kernels on the wasm heap (gemm.cc, patches.cc, channel-ops.cc) with named arguments. */
export function heapKernelsOf(addon: RawHeapKernels): NativeGemm {
  return {
    kernel: addon.kernel,
    oneChannel: { lanes: addon.oneChannelLanes, maxTaps: addon.oneChannelMaxTaps },
    sgemm: (heap, m, n, k, a, b, c, ldc, accumulate = false) =>
      addon.sgemm(heap, m, n, k, a.at, a.rowStride, a.colStride, b.at, b.rowStride, b.colStride, c, ldc, accumulate),
    im2col: (heap, cols, x, g) => addon.im2col(heap, cols, x, ...patchArgs(g)),
    col2im: (heap, dx, cols, g) => addon.col2im(heap, dx, cols, ...patchArgs(g)),
    convOneChannel: (heap, out, x, filter, oc, g) => addon.convOneChannel(heap, out, x, filter, oc, ...patchArgs(g)),
    convOneChannelFilterGrad: (heap, dw, x, dy, oc, g) =>
      addon.convOneChannelFilterGrad(heap, dw, x, dy, oc, ...patchArgs(g)),
    binaryOp: (heap, op, at, rows, cols, layout, swapped) =>
      addon.binaryOp(heap, op, at.out, at.a, at.b, rows, cols, layout, swapped ? 1 : 0),
    batchNorm: (heap, out, at, epsilon, rows, cols) =>
      addon.batchNorm(heap, out, at.x, at.mean, at.variance, at.offset ?? -1, at.scale ?? -1, epsilon, rows, cols),
    batchNormGrad: (heap, at, epsilon, rows, cols, out) =>
      addon.batchNormGrad(
        heap,
        at.dy,
        at.x,
        at.mean,
        at.variance,
        at.scale ?? -1,
        epsilon,
        rows,
        cols,
        out.dx,
        out.mean,
        out.variance,
        out.scale,
        out.offset,
      ),
    momentsGrad: (heap, at, rows, cols, dx) =>
      addon.momentsGrad(heap, at.x, at.mean, at.dMean, at.dVariance, rows, cols, dx),
    variance: (heap, at, rows, cols, out) => addon.variance(heap, at.x, at.mean, rows, cols, out),
    columnSum: (heap, x, rows, cols, out) => addon.columnSum(heap, x, rows, cols, out),
  };
}
