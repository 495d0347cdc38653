/**
 * A few SIMD loops the stock wasm backend lacks, as a tiny WebAssembly module assembled here at
 * load time and instantiated over a given memory (the backend's own, so it works on tensors in
 * place, or the all-reduce's float buffers). Plain WebAssembly: no TensorFlow.js here.
 *
 * Why hand-assembled: these loops are memory-bound passes that JS runs slowly (data-dependent
 * branches, no SIMD), longer than the XNNPACK convolutions beside them; the project has no wasm toolchain, and the
 * bytecode of three short loops is small enough to write out and review (each function carries its
 * pseudo-code). Where the backend's memory cannot be reached the callers keep their JS paths.
 *
 * All pointers are byte offsets into the wasm heap; all loops require lengths that are multiples
 * of 4 floats, checked by the callers.
 */
export interface SimdOps {
  /**
   * Gradient of one row of 2x2 stride-2 max-pool windows over NHWC data: for window q and channel
   * block k, the first maximum (row-major, strictly greater wins) of x at rows x0/x1 gets dy, the
   * other three taps get 0. A window whose maximum is -Infinity (or all NaN) passes nothing, as
   * in the cpu backend. `rowFloats` = 2 * windows * channels; `channels` % 4 == 0.
   */
  maxPoolGrad2x2Row(
    x0: number,
    x1: number,
    dy: number,
    dx0: number,
    dx1: number,
    windows: number,
    channels: number,
  ): void;
  /** out[k] += x[r*cols + k] for all rows r: sums over leading axes; `cols` % 4 == 0. */
  columnSum(x: number, out: number, rows: number, cols: number): void;
  /** dst[k] += src[k] for k < n; `n` % 4 == 0. */
  addInto(dst: number, src: number, n: number): void;
  /** x[k] *= factor for k < n; `n` % 4 == 0. */
  scale(x: number, n: number, factor: number): void;
  /**
   * out[t*cols + j] += a[r*taps + t] * b[r*cols + j] for every row r < rows: the product
   * a^T . b of two row-major matrices with `rows` rows, one row at a time (no transpose, no
   * packing). For a short `taps`, where XNNPACK's repacking of b costs more than the product.
   * `cols` % 4 == 0; `out` holds taps*cols floats and is accumulated into.
   */
  outerAccumulate(a: number, b: number, out: number, rows: number, taps: number, cols: number): void;
}

// Opcodes (WebAssembly core + SIMD).
const BLOCK = 0x02;
const LOOP = 0x03;
const BR_IF = 0x0d;
const END = 0x0b;
const VOID = 0x40;
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const LOCAL_TEE = 0x22;
const I32_CONST = 0x41;
const I32_EQZ = 0x45;
const I32_LT_U = 0x49;
const I32_ADD = 0x6a;
const I32_MUL = 0x6c;
const I32_SHL = 0x74;
const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
const SIMD = 0xfd;
// SIMD sub-opcodes (LEB128-encoded after the prefix).
const V128_LOAD = [SIMD, 0x00, 0x04, 0x00]; // align 2^4, offset 0
const V128_STORE = [SIMD, 0x0b, 0x04, 0x00];
const F32X4_SPLAT = [SIMD, 0x13];
const F32X4_EQ = [SIMD, 0x41];
const F32X4_GT = [SIMD, 0x44];
const V128_AND = [SIMD, 0x4e];
const V128_ANDNOT = [SIMD, 0x4f];
const V128_BITSELECT = [SIMD, 0x52];
const F32X4_ADD = [SIMD, 0xe4, 0x01];
const F32X4_MUL = [SIMD, 0xe6, 0x01];
const F32_LOAD = [0x2a, 0x02, 0x00]; // align 2^2, offset 0
const F32_CONST_NEG_INF = [0x43, 0x00, 0x00, 0x80, 0xff];

const get = (i: number): number[] => [LOCAL_GET, i];
const set = (i: number): number[] => [LOCAL_SET, i];
const tee = (i: number): number[] => [LOCAL_TEE, i];
const i32 = (n: number): number[] => [I32_CONST, ...sleb(n)];
const load = (ptr: number[]): number[] => [...ptr, ...V128_LOAD];

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => vec([...s].map((ch) => [ch.charCodeAt(0)]));

/**
 * maxPoolGrad2x2Row(x0, x1, dy, dx0, dx1, windows, channels):
 *   cb = channels*4; step = 2*cb; end = dy + windows*cb
 *   do {                                   // one window per iteration, dy advances by cb
 *     k = 0
 *     do {                                 // 4 channels per iteration
 *       a = x0[k], b = x0[cb+k], c = x1[k], d = x1[cb+k]
 *       best = max-with-first-wins(a, b, c, d)   // via gt + bitselect, from -inf
 *       ok = best > -inf; g = dy[k]
 *       ma = (a == best) & ok;            dx0[k]    = g & ma
 *       mb = (b == best) & ok & ~ma;      dx0[cb+k] = g & mb
 *       mc = (c == best) & ok & ~(ma|mb); dx1[k]    = g & mc
 *       md = (d == best) & ok & ~(ma|mb|mc); dx1[cb+k] = g & md
 *       k += 16
 *     } while (k < cb)
 *     x0 += step; x1 += step; dx0 += step; dx1 += step; dy += cb
 *   } while (dy < end)
 */
// An instruction listing, laid out as the assembly it is.
// prettier-ignore
function maxPoolGradBody(): number[] {
  // params 0..6: x0 x1 dy dx0 dx1 windows channels; i32 locals 7 cb, 8 step, 9 end, 10 k;
  // v128 locals 11 best, 12 ok, 13 g, 14 taken, 15 m, 16 v.
  const [X0, X1, DY, DX0, DX1, WIN, CH, CB, STEP, ENDP, K] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const [BEST, OK, G, TAKEN, M, V] = [11, 12, 13, 14, 15, 16];
  const at = (base: number, extra: boolean): number[] => [...get(base), ...get(K), I32_ADD, ...(extra ? [...get(CB), I32_ADD] : [])];
  const taps: [number, boolean, number][] = [
    [X0, false, DX0],
    [X0, true, DX0],
    [X1, false, DX1],
    [X1, true, DX1],
  ];
  const code: number[] = [
    ...get(CH), ...i32(2), I32_SHL, ...set(CB),
    ...get(CB), ...i32(1), I32_SHL, ...set(STEP),
    ...get(DY), ...get(WIN), ...get(CB), I32_MUL, I32_ADD, ...set(ENDP),
    LOOP, VOID,
    ...i32(0), ...set(K),
    LOOP, VOID,
    ...F32_CONST_NEG_INF, ...F32X4_SPLAT, ...set(BEST),
  ];
  for (const [base, extra] of taps) {
    // v = x[tap]; best = v > best ? v : best
    code.push(...load(at(base, extra)), ...tee(V), ...get(BEST), ...get(V), ...get(BEST), ...F32X4_GT, ...V128_BITSELECT, ...set(BEST));
  }
  code.push(
    ...get(BEST), ...F32_CONST_NEG_INF, ...F32X4_SPLAT, ...F32X4_GT, ...set(OK),
    ...load(at(DY, false)), ...set(G),
    ...get(OK), ...set(TAKEN),
  );
  // TAKEN holds the lanes still free to take the gradient: ok, and not given to an earlier tap.
  for (const [base, extra, out] of taps) {
    code.push(
      ...load(at(base, extra)), ...get(BEST), ...F32X4_EQ, ...get(TAKEN), ...V128_AND, ...set(M),
      ...at(out, extra), ...get(G), ...get(M), ...V128_AND, ...V128_STORE,
      ...get(TAKEN), ...get(M), ...V128_ANDNOT, ...set(TAKEN),
    );
  }
  code.push(
    ...get(K), ...i32(16), I32_ADD, ...tee(K), ...get(CB), I32_LT_U, BR_IF, 0,
    END,
    ...get(X0), ...get(STEP), I32_ADD, ...set(X0),
    ...get(X1), ...get(STEP), I32_ADD, ...set(X1),
    ...get(DX0), ...get(STEP), I32_ADD, ...set(DX0),
    ...get(DX1), ...get(STEP), I32_ADD, ...set(DX1),
    ...get(DY), ...get(CB), I32_ADD, ...tee(DY), ...get(ENDP), I32_LT_U, BR_IF, 0,
    END,
    END,
  );
  return [...vec([[4, I32], [6, V128]]), ...code];
}

/**
 * `if (ptr < end) do { body; ptr += step } while (ptr < end)`: the guarded outer loop of the
 * 1-D passes below; `step` pushes the byte increment.
 */
function loopTo(ptr: number, end: number, step: number[], body: number[]): number[] {
  return [
    BLOCK,
    VOID,
    ...get(ptr),
    ...get(end),
    I32_LT_U,
    I32_EQZ,
    BR_IF,
    0,
    LOOP,
    VOID,
    ...body,
    ...get(ptr),
    ...step,
    I32_ADD,
    ...tee(ptr),
    ...get(end),
    I32_LT_U,
    BR_IF,
    0,
    END,
    END,
  ];
}

/**
 * columnSum(x, out, rows, cols):
 *   cb = cols*4; end = x + rows*cb
 *   do { k = 0; do { out[k] += x[k]; x += 16; k += 16 } while (k < cb) } while (x < end)
 */
function columnSumBody(): number[] {
  const [X, OUT, ROWS, COLS, CB, ENDP, K] = [0, 1, 2, 3, 4, 5, 6];
  const code: number[] = [
    ...get(COLS),
    ...i32(2),
    I32_SHL,
    ...set(CB),
    ...get(X),
    ...get(ROWS),
    ...get(CB),
    I32_MUL,
    I32_ADD,
    ...set(ENDP),
    BLOCK,
    VOID,
    ...get(X),
    ...get(ENDP),
    I32_LT_U,
    I32_EQZ,
    BR_IF,
    0,
    LOOP,
    VOID,
    ...i32(0),
    ...set(K),
    LOOP,
    VOID,
    ...get(OUT),
    ...get(K),
    I32_ADD,
    ...load([...get(OUT), ...get(K), I32_ADD]),
    ...load(get(X)),
    ...F32X4_ADD,
    ...V128_STORE,
    ...get(X),
    ...i32(16),
    I32_ADD,
    ...set(X),
    ...get(K),
    ...i32(16),
    I32_ADD,
    ...tee(K),
    ...get(CB),
    I32_LT_U,
    BR_IF,
    0,
    END,
    ...get(X),
    ...get(ENDP),
    I32_LT_U,
    BR_IF,
    0,
    END,
    END,
    END,
  ];
  return [...vec([[3, I32]]), ...code];
}

/** addInto(dst, src, n): end = dst + n*4; do { dst[0] += src[0]; dst += 16; src += 16 } while (dst < end) */
function addIntoBody(): number[] {
  const [DST, SRC, N, ENDP] = [0, 1, 2, 3];
  const code: number[] = [
    ...get(DST),
    ...get(N),
    ...i32(2),
    I32_SHL,
    I32_ADD,
    ...set(ENDP),
    ...loopTo(DST, ENDP, i32(16), [
      ...get(DST),
      ...load(get(DST)),
      ...load(get(SRC)),
      ...F32X4_ADD,
      ...V128_STORE,
      ...get(SRC),
      ...i32(16),
      I32_ADD,
      ...set(SRC),
    ]),
    END,
  ];
  return [...vec([[1, I32]]), ...code];
}

/** scale(x, n, factor): f = splat(factor); end = x + n*4; do { x[0] *= f; x += 16 } while (x < end) */
function scaleBody(): number[] {
  const [X, N, FACTOR, ENDP, F] = [0, 1, 2, 3, 4];
  const code: number[] = [
    ...get(X),
    ...get(N),
    ...i32(2),
    I32_SHL,
    I32_ADD,
    ...set(ENDP),
    ...get(FACTOR),
    ...F32X4_SPLAT,
    ...set(F),
    ...loopTo(X, ENDP, i32(16), [...get(X), ...load(get(X)), ...get(F), ...F32X4_MUL, ...V128_STORE]),
    END,
  ];
  return [
    ...vec([
      [1, I32],
      [1, V128],
    ]),
    ...code,
  ];
}

/**
 * outerAccumulate(a, b, out, rows, taps, cols):
 *   ab = taps*4; bb = cols*4; end = a + rows*ab
 *   do {                                          // one row r per iteration
 *     t = 0; o = out
 *     do {                                        // one tap per iteration
 *       s = splat(f32 at a + t*4); j = 0
 *       do { out[o + j] += s * b[j]; j += 16 } while (j < bb)
 *       o += bb; t += 1
 *     } while (t < taps)
 *     a += ab; b += bb
 *   } while (a < end)
 */
// An instruction listing, laid out as the assembly it is.
// prettier-ignore
function outerAccumulateBody(): number[] {
  const [A, B, OUT, ROWS, TAPS, COLS, AB, BB, ENDP, T, O, J] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const S = 12;
  const code: number[] = [
    ...get(TAPS), ...i32(2), I32_SHL, ...set(AB),
    ...get(COLS), ...i32(2), I32_SHL, ...set(BB),
    ...get(A), ...get(ROWS), ...get(AB), I32_MUL, I32_ADD, ...set(ENDP),
    ...loopTo(A, ENDP, get(AB), [
      ...i32(0), ...set(T),
      ...get(OUT), ...set(O),
      LOOP, VOID,
      ...get(A), ...get(T), ...i32(2), I32_SHL, I32_ADD, ...F32_LOAD, ...F32X4_SPLAT, ...set(S),
      ...i32(0), ...set(J),
      LOOP, VOID,
      ...get(O), ...get(J), I32_ADD,
      ...load([...get(O), ...get(J), I32_ADD]),
      ...get(S), ...load([...get(B), ...get(J), I32_ADD]), ...F32X4_MUL,
      ...F32X4_ADD, ...V128_STORE,
      ...get(J), ...i32(16), I32_ADD, ...tee(J), ...get(BB), I32_LT_U, BR_IF, 0,
      END,
      ...get(O), ...get(BB), I32_ADD, ...set(O),
      ...get(T), ...i32(1), I32_ADD, ...tee(T), ...get(TAPS), I32_LT_U, BR_IF, 0,
      END,
      ...get(B), ...get(BB), I32_ADD, ...set(B),
    ]),
    END,
  ];
  return [...vec([[6, I32], [1, V128]]), ...code];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const fn = (params: number[], body: number[]): { type: number[]; body: number[] } => ({
    type: [0x60, ...vec(params.map((p) => [p])), 0x00],
    body: [...uleb(body.length), ...body],
  });
  const ints = (k: number): number[] => Array.from({ length: k }, () => I32);
  const fns = [
    fn(ints(7), maxPoolGradBody()),
    fn(ints(4), columnSumBody()),
    fn(ints(3), addIntoBody()),
    fn([I32, I32, F32], scaleBody()),
    fn(ints(6), outerAccumulateBody()),
  ];
  const names = ['maxPoolGrad2x2Row', 'columnSum', 'addInto', 'scale', 'outerAccumulate'];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec(fns.map((f) => f.type))),
    // Import "env"."memory": any size (limits flag 0, minimum 0 pages).
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, 0x00]])),
    ...section(3, vec(fns.map((_, i) => uleb(i)))),
    ...section(7, vec(names.map((n, i) => [...name(n), 0x00, ...uleb(i)]))),
    ...section(10, vec(fns.map((f) => f.body))),
  ]);
}

const cache = new WeakMap<object, SimdOps | null>();

/** The SIMD ops bound to `memory`, or undefined where the engine has no WebAssembly SIMD. */
export function simdOpsFor(memory: WebAssembly.Memory): SimdOps | undefined {
  let ops = cache.get(memory);
  if (ops === undefined) {
    try {
      const instance = new WebAssembly.Instance(compiled(), { env: { memory } });
      ops = instance.exports as unknown as SimdOps;
    } catch {
      ops = null; // No SIMD in this engine: the callers keep their JS paths.
    }
    cache.set(memory, ops);
  }
  return ops ?? undefined;
}

let compiledModule: WebAssembly.Module | undefined;
function compiled(): WebAssembly.Module {
  compiledModule ??= new WebAssembly.Module(moduleBytes());
  return compiledModule;
}
