/**
 * The project's native addon (native/, built by `npm ci` through node-gyp when a C++ toolchain is
 * there): a matrix product, the optimizer updates, and shared memory between ring neighbours.
 *
 * The matrix product (gemm.cc) is a blocked AVX2 + FMA kernel that multiplies matrices in place
 * on the wasm heap. tfjs-backend-wasm's XNNPACK is held to 128-bit wasm SIMD without FMA, and the
 * convolution and dense kernels of training are matrix products (docs/benchmarks/per-core.md
 * shows the GFLOP/s reached). Without the addon, or on a CPU without AVX2,
 * every kernel keeps its pure-wasm path, which gives the same results to float rounding.
 *
 * The optimizer updates (optim.cc) are the loops of src/train/optimizers.ts, vectorized: for a
 * small model the JS loop was a large share of a training step. They repeat the JS arithmetic operation
 * for operation (double precision, no fused multiply-add) and so give the same bits, which keeps
 * replicas identical even when only some hosts have the addon. Batches of byte datasets are
 * gathered and decoded there too (batch.cc, the same table lookup as src/data/rows.ts).
 *
 * RINGTRAIN_NATIVE_KERNELS=off turns the native kernels off (A/B benchmarks, or to rule them
 * out); tests switch them with setNativeKernels.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { heapKernelsOf, type NativeGemm, type RawHeapKernels } from './heap-kernels';

/** Optimizer updates in place; a null buffer means that optimizer runs without momentum. */
export interface NativeUpdates {
  sgd(
    p: Float32Array,
    g: Float32Array,
    buf: Float32Array | null,
    momentum: number,
    wd: number,
    lr: number,
    nesterov: number,
  ): void;
  adam(
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    b1: number,
    b2: number,
    stepSize: number,
    bc2Sqrt: number,
    eps: number,
    decay: number,
    l2: number,
  ): void;
  rmsprop(
    p: Float32Array,
    g: Float32Array,
    sq: Float32Array,
    buf: Float32Array | null,
    alpha: number,
    eps: number,
    momentum: number,
    wd: number,
    lr: number,
  ): void;
  /** Sum of squares in float64 over sixteen interleaved lanes, as grad-norm.ts sums. */
  sumSquares(g: Float32Array): number;
  /** g[i] = float32(g[i] * coef). */
  scaleBy(g: Float32Array, coef: number): void;
  /** out[p*features + i] = table[(i % channels)*256 + bytes[idx[p]*features + i]]: a batch of byte rows, decoded. */
  gatherDecoded(
    bytes: Uint8Array,
    table: Float32Array,
    channels: number,
    idx: Int32Array,
    features: number,
    out: Float32Array,
  ): void;
  /**
   * out = [min, max, count, sum, sum of squares, non-finite, ...bins counts] of the finite values,
   * as diagnostics.ts's histogram() computes them (histogram.cc); absent from an older addon.
   */
  histogram?(values: Float32Array, bins: number, out: Float64Array): void;
  /** Sum of (a - b)^2 (of a^2 when b is null) in sumSquares' lane order (diagnostics.cc); absent from an older addon. */
  sumSquaredDiff?(a: Float32Array, b: Float32Array | null): number;
}

/** The ring's compressed wire types (wire-convert.cc): kind 0 is IEEE half, 1 bfloat16; the JS loops' results. */
export interface NativeWire {
  /** dst[i] = src[i] rounded to the wire type (nearest even). */
  wireEncode(kind: 0 | 1, src: Float32Array, dst: Uint16Array): void;
  /** dst[i] (+)= the float32 value of src[i], for i < dst.length. */
  wireDecode(kind: 0 | 1, src: Uint16Array, dst: Float32Array, add: boolean): void;
}

/** Files in /dev/shm mapped into this process (shm.cc): the TCP ring's same-host payload path. */
export interface NativeSharedMemory {
  /** Maps `path` (creating it with its space reserved, or opening an existing one of exactly `bytes`); throws with the reason. */
  mapShared(path: string, bytes: number, create: boolean): ArrayBuffer;
  /** Removes the file; live mappings stay valid. Returns '' or why it failed. */
  unlinkShared(path: string): string;
  /**
   * dst[i] = src[i] with streaming stores (shm.cc), for writes into memory a peer reads next;
   * absent from an addon built before it (callers then use TypedArray.set).
   */
  copyStreaming?(dst: Float32Array, src: Float32Array): void;
  /**
   * dst[i] = (dst[i] + src[i]) * scale, each step rounded to float32 (shm.cc): a pair's mean read
   * straight out of the peer's half of the file; absent from an addon built before it.
   */
  addScaled?(dst: Float32Array, src: Float32Array, scale: number): void;
  /**
   * addScaled, returning the sum of squares of dst[0, squaresUpTo) in sumSquares' lane order;
   * with `both`, each result is written to src too (shm.cc's addScaledSquaresBoth).
   */
  addScaledSquares?(dst: Float32Array, src: Float32Array, scale: number, squaresUpTo: number, both?: boolean): number;
  /**
   * Sleeps while words[index] === expected, at most timeoutMicros (a futex on the mapped file, so
   * another process can wake it): 0 woken, 1 timed out, 2 already changed, 3 interrupted. Absent
   * from an older addon.
   */
  futexWait?(words: Int32Array, index: number, expected: number, timeoutMicros: number): number;
  /** Wakes one sleeper on words[index]; how many woke. */
  futexWake?(words: Int32Array, index: number): number;
}

/**
 * The fused training step of a plain layer stack (fused-step.cc): `plan` holds 11 int32 fields
 * per layer (kind, act, h, w, cin, cout, kh, kw, pool, weight offset, bias offset).
 */
export interface NativeFusedStep {
  /**
   * Forward, loss and backward of `rows` samples; gradients into `grads` (+= with accumulate);
   * out = [objective, correct]. With `profile` (2 x layers + 1 slots) each layer's forward
   * seconds are added to slot 2i, its backward to 2i + 1, the loss to the last. With `stopAt`
   * the backward pass stops after that op: the later ops' gradients are final, and
   * fusedBackward computes the rest. The paused pass keeps workspace `slot` (0..63) of this
   * thread: steps paused at once need slots of their own.
   */
  fusedStep(
    plan: Int32Array,
    params: Float32Array,
    grads: Float32Array,
    x: Float32Array,
    y: Int32Array,
    rows: number,
    accumulate: boolean,
    smoothing: number,
    classWeights: Float32Array | null,
    out: Float64Array,
    profile?: Float64Array | null,
    stopAt?: number,
    slot?: number,
  ): void;
  /** The rest of the backward pass fusedStep stopped in `slot`, down to op `downTo` (same arguments, same thread). */
  fusedBackward(
    plan: Int32Array,
    params: Float32Array,
    grads: Float32Array,
    x: Float32Array,
    rows: number,
    accumulate: boolean,
    downTo: number,
    slot: number,
  ): void;
  /** Logits of `rows` samples into `out`. */
  fusedForward(plan: Int32Array, params: Float32Array, x: Float32Array, rows: number, out: Float32Array): void;
  /** This core's measured fp32 FMA peak in GFLOP/s over about `seconds` (peak.cc), with the widest vectors it has. */
  peakGflops(seconds: number): number;
  /** The vector extension the step's kernels and the peak probe use: 'avx512f', 'avx2-fma' or 'none'. */
  peakIsa: string;
  /** How many floats into `a` its first 64-byte boundary lies (0..15). */
  lineOffset(a: Float32Array): number;
}

interface Addon
  extends RawHeapKernels, NativeUpdates, NativeSharedMemory, Partial<NativeFusedStep>, Partial<NativeWire> {
  /** Binds every thread of this process to the CPUs (affinity.cc); returns '' or why not. */
  bindToCpus?: (cpus: number[]) => string;
  /** glibc malloc's mmap threshold, trim threshold and top pad, in bytes (malloc-tuning.cc); returns '' or why not. */
  retainFreedMemory?: (mmapThreshold: number, trimThreshold: number, topPad: number) => string;
}

const ADDON = path.join('native', 'build', 'Release', 'ringtrain_native.node');

interface Loaded {
  gemm?: NativeGemm;
  updates?: NativeUpdates;
  shared?: NativeSharedMemory;
  bindToCpus?: (cpus: number[]) => string;
  retainFreedMemory?: (mmapThreshold: number, trimThreshold: number, topPad: number) => string;
  step?: NativeFusedStep;
  wire?: NativeWire;
  /** Why there is no native kernel, when there is none. */
  why?: string;
}

let loaded: Loaded | undefined;
let enabled = process.env.RINGTRAIN_NATIVE_KERNELS !== 'off';

/** The addon, looked for in the package root above this file (src/ or dist/src/). */
function load(): Loaded {
  let dir = __dirname;
  let file: string | undefined;
  for (let up = 0; up < 4 && file === undefined; up++, dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, ADDON))) file = path.join(dir, ADDON);
  }
  if (file === undefined)
    return {
      why: `${ADDON} is not built (it needs g++, make and python3 at install; run \`npm rebuild ringtrain\` after installing them)`,
    };
  let addon: Addon;
  try {
    addon = require(file) as Addon;
  } catch (err) {
    return { why: `${file} failed to load: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
  }
  const updates: NativeUpdates = {
    sgd: addon.sgd,
    adam: addon.adam,
    rmsprop: addon.rmsprop,
    sumSquares: addon.sumSquares,
    scaleBy: addon.scaleBy,
    gatherDecoded: addon.gatherDecoded,
    histogram: addon.histogram,
    sumSquaredDiff: addon.sumSquaredDiff,
  };
  // An addon built before shm.cc existed has no mapShared: the ring then stays on sockets.
  const shared: NativeSharedMemory | undefined =
    typeof addon.mapShared === 'function'
      ? {
          mapShared: addon.mapShared,
          unlinkShared: addon.unlinkShared,
          copyStreaming: addon.copyStreaming,
          addScaled: addon.addScaled,
          addScaledSquares: addon.addScaledSquares,
          futexWait: addon.futexWait,
          futexWake: addon.futexWake,
        }
      : undefined;
  const bindToCpus = typeof addon.bindToCpus === 'function' ? addon.bindToCpus : undefined;
  const retainFreedMemory = typeof addon.retainFreedMemory === 'function' ? addon.retainFreedMemory : undefined;
  const step = fusedStepOf(addon);
  // An addon built before wire-convert.cc has none: the wire then converts in JS.
  const wire =
    addon.wireEncode !== undefined && addon.wireDecode !== undefined
      ? { wireEncode: addon.wireEncode, wireDecode: addon.wireDecode }
      : undefined;
  // The portable microkernel is slower than XNNPACK's wasm SIMD: only AVX2 + FMA is worth it.
  if (addon.kernel !== 'avx2-fma' && addon.kernel !== 'avx512f')
    return {
      updates,
      shared,
      bindToCpus,
      retainFreedMemory,
      wire,
      why: `this CPU has no AVX2 + FMA (the addon's kernel is '${addon.kernel}')`,
    };
  const gemm = heapKernelsOf(addon);
  return { gemm, updates, shared, bindToCpus, retainFreedMemory, step, wire };
}

/** The fused step of an addon that has it (an addon built before fused-step.cc has not). */
function fusedStepOf(addon: Addon): NativeFusedStep | undefined {
  const { fusedStep, fusedBackward, fusedForward, peakGflops, peakIsa, lineOffset } = addon;
  if (
    fusedStep === undefined ||
    fusedBackward === undefined ||
    fusedForward === undefined ||
    peakGflops === undefined ||
    peakIsa === undefined ||
    lineOffset === undefined
  )
    return undefined;
  return { fusedStep, fusedBackward, fusedForward, peakGflops, peakIsa, lineOffset };
}

function state(): Loaded {
  loaded ??= load();
  return loaded;
}

/** The native matrix product when it is built, usable here and turned on; else undefined. */
export function nativeGemm(): NativeGemm | undefined {
  return enabled ? state().gemm : undefined;
}

/** The native optimizer updates when the addon is built and turned on; else undefined. */
export function nativeUpdates(): NativeUpdates | undefined {
  return enabled ? state().updates : undefined;
}

/** The fused training step when the addon is built with it, the CPU has AVX2 + FMA and the kernels are on; else undefined. */
export function nativeFusedStep(): NativeFusedStep | undefined {
  return enabled ? state().step : undefined;
}

/** The wire conversions when the addon is built with them and turned on; else undefined. */
export function nativeWire(): NativeWire | undefined {
  return enabled ? state().wire : undefined;
}

/**
 * A zeroed Float32Array of `n` whose first element starts a 64-byte cache line (where the addon
 * can tell): the native products load and store whole lines, and a vector straddling two costs
 * two. Elsewhere a plain Float32Array.
 */
export function lineAlignedFloats(n: number): Float32Array {
  const step = nativeFusedStep();
  if (step === undefined) return new Float32Array(n);
  const spare = new Float32Array(n + 15);
  const at = step.lineOffset(spare);
  return spare.subarray(at, at + n);
}

/** Shared-memory mapping when the addon is built and turned on; else undefined, with why. */
export function nativeSharedMemory(): { shm?: NativeSharedMemory; why?: string } {
  if (!enabled) return { why: 'RINGTRAIN_NATIVE_KERNELS=off' };
  const s = state();
  return s.shared !== undefined
    ? { shm: s.shared }
    : { why: s.why ?? 'the native addon predates shared memory: rebuild it (npm rebuild ringtrain)' };
}

/**
 * CPU binding (affinity.cc) when the addon is built; else why not. Not switched by
 * RINGTRAIN_NATIVE_KERNELS: it changes where the process runs, not what it computes.
 */
export function nativeCpuBinding(): { bind?: (cpus: number[]) => string; why?: string } {
  const s = state();
  if (s.bindToCpus !== undefined) return { bind: s.bindToCpus };
  return {
    why:
      s.gemm === undefined && s.updates === undefined
        ? (s.why ?? 'the native addon is not built')
        : 'the native addon predates CPU binding: rebuild it (npm rebuild ringtrain)',
  };
}

/** glibc malloc tuning (malloc-tuning.cc) when the addon is built; else why not. Like CPU binding, not switched by RINGTRAIN_NATIVE_KERNELS. */
export function nativeMallocTuning(): {
  retain?: (mmapThreshold: number, trimThreshold: number, topPad: number) => string;
  why?: string;
} {
  const s = state();
  if (s.retainFreedMemory !== undefined) return { retain: s.retainFreedMemory };
  return {
    why:
      s.gemm === undefined && s.updates === undefined
        ? (s.why ?? 'the native addon is not built')
        : 'the native addon predates malloc tuning: rebuild it (npm rebuild ringtrain)',
  };
}

/** What the kernels run on, for the worker's log and metrics: 'native-avx512f', 'native-avx2-fma' or 'wasm'. */
export function kernelSet(): { name: string; why?: string } {
  if (!enabled) return { name: 'wasm', why: 'RINGTRAIN_NATIVE_KERNELS=off' };
  const s = state();
  return s.gemm !== undefined ? { name: `native-${s.gemm.kernel}` } : { name: 'wasm', why: s.why };
}

/** Turns the native kernels on or off for this process (tests run both paths). */
export function setNativeKernels(on: boolean): void {
  enabled = on;
}
