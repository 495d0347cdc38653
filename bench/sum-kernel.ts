/**
 * `npm run bench:sum`: the all-reduce's reduction kernel, `dst += src` over float32, as a plain
 * typed-array loop and as the WebAssembly SIMD loop the ring uses for buffers from
 * `Communicator.allocate` (src/core/simd-floats.ts), at block sizes the ring sees. Prints the
 * median time and the bandwidth counted as bytes of `dst` per second, plus a memcpy of the same
 * bytes as the memory's own ceiling, measured in the same run.
 */
import { addFloats, simdBuffer } from '../src/core/simd-floats';

const REPS = 15;

function median(f: () => void): number {
  const times: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const t0 = process.hrtime.bigint();
    f();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[REPS >> 1] as number;
}

function fill(a: Float32Array): void {
  for (let i = 0; i < a.length; i++) a[i] = (i % 1000) * 0.001;
}

/** The loop the ring used before: kept here as the baseline, exactly as it was written. */
function plainAdd(a: Float32Array, b: Float32Array): void {
  const n = a.length;
  for (let i = 0; i < n; i++) a[i] = (a[i] as number) + (b[i] as number);
}

const sizes = (process.argv[2] ?? '100K,1M,50M').split(',').map((s) => {
  const m = /^(\d+)([KM]?)$/.exec(s.trim());
  if (m === null) throw new Error(`bad size '${s}': use e.g. 100K,1M,50M (bytes of one operand)`);
  return Number(m[1]) * (m[2] === 'M' ? 1 << 20 : m[2] === 'K' ? 1 << 10 : 1);
});

process.stdout.write(
  '| bytes | JS loop ms | JS GB/s | wasm SIMD ms | SIMD GB/s | SIMD / JS | memcpy GB/s |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n',
);
for (const bytes of sizes) {
  const n = Math.floor(bytes / 4);
  const memory = simdBuffer(2 * n * 4);
  if (memory === undefined) throw new Error('this engine has no WebAssembly SIMD');
  const dst = new Float32Array(memory, 0, n);
  const src = new Float32Array(memory, n * 4, n);
  const jsDst = new Float32Array(n);
  const jsSrc = new Float32Array(n);
  for (const a of [dst, src, jsDst, jsSrc]) fill(a);
  // Repeat small sizes so each timing covers at least 16 MB.
  const inner = Math.max(1, Math.ceil((16 << 20) / bytes));
  const js =
    median(() => {
      for (let k = 0; k < inner; k++) plainAdd(jsDst, jsSrc);
    }) / inner;
  const simd =
    median(() => {
      for (let k = 0; k < inner; k++) addFloats(dst, src);
    }) / inner;
  const copy =
    median(() => {
      for (let k = 0; k < inner; k++) jsDst.set(jsSrc);
    }) / inner;
  const gbs = (ms: number): string => (bytes / ms / 1e6).toFixed(2);
  process.stdout.write(
    `| ${bytes} | ${js.toFixed(3)} | ${gbs(js)} | ${simd.toFixed(3)} | ${gbs(simd)} | ${(js / simd).toFixed(2)}x | ${gbs(copy)} |\n`,
  );
}
