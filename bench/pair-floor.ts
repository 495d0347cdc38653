/**
 * The least a same-host pair of workers adds to a step, whichever way it sums: every rank ends
 * with the whole averaged gradient, so it must read the peer's share of it, a gradient's worth of
 * bytes, fresh from the other core's cache (the pair's in-place sum reads half the peer's
 * gradient and then half the peer's sums). Measured as that read alone: one thread writes the
 * values into shared memory and raises a flag, the other adds them into its own buffer (the
 * addon's addScaled, as the pair does; a loop without it) and flags back. Both spin, so each
 * keeps a core of its own.
 */
import { Worker } from 'node:worker_threads';
import { nativeSharedMemory } from '../src/native';
import { median } from './launch-run';

/** The writer: the same loop every iteration, values that change, so no line stays clean. */
const WRITER = `
const { workerData } = require('node:worker_threads');
const { flag, data } = workerData;
for (let it = 0; it < workerData.iters; it++) {
  while (Atomics.load(flag, 0) !== 2 * it) {}
  for (let i = 0; i < data.length; i++) data[i] = i * 0.5 + it;
  Atomics.store(flag, 0, 2 * it + 1);
}
`;

/** Spins until `flag` holds `value`, or throws after `deadline` (performance.now() ms). */
function spinFor(flag: Int32Array, value: number, deadline: number): void {
  while (Atomics.load(flag, 0) !== value) {
    if (performance.now() > deadline) throw new Error('pair floor: the writer thread did not publish within 30 s');
  }
}

/** Median milliseconds for one rank to add `floats` values the other core has just written. */
export async function pairFloorMs(floats: number, iters = 400): Promise<number> {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const data = new Float32Array(new SharedArrayBuffer(floats * 4));
  const own = new Float32Array(floats);
  const add = nativeSharedMemory().shm?.addScaled;
  const writer = new Worker(WRITER, { eval: true, workerData: { flag, data, iters } });
  const failed = new Promise<never>((_, reject) => writer.once('error', reject));
  failed.catch(() => undefined);
  const times: number[] = [];
  const deadline = performance.now() + 30_000;
  try {
    for (let it = 0; it < iters; it++) {
      spinFor(flag, 2 * it + 1, deadline);
      const t0 = performance.now();
      if (add !== undefined) add(own, data, 1);
      else for (let i = 0; i < floats; i++) own[i] = (own[i] as number) + (data[i] as number);
      times.push(performance.now() - t0);
      Atomics.store(flag, 0, 2 * it + 2);
    }
  } finally {
    await Promise.race([new Promise((resolve) => writer.once('exit', resolve)), failed, writer.terminate()]);
  }
  // Each value i of iteration `it` was i / 2 + it: a torn or skipped read shows here.
  const expected = iters / 2 + (iters * (iters - 1)) / 2;
  if (floats > 1 && own[1] !== expected) throw new Error(`pair floor: read ${own[1]} where ${expected} was written`);
  // The first iterations fault the pages in and warm the code.
  return median(times.slice(Math.min(20, iters >> 1)));
}
