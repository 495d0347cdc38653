import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Communicator, MemoryHub, splitChunks } from '../../src/allreduce';
import { isRingtrainError } from '../../src/core/errors';

/** Deterministic pseudo-random floats so a failure can be reproduced. */
function randomArray(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

async function allReduceCase(world: number, length: number, algorithm: 'auto' | 'ring' = 'auto'): Promise<void> {
  const comms = new MemoryHub('job', world)
    .endpoints()
    .map((t) => new Communicator(t, { bucketElements: 1 << 18, blockElements: 1000, algorithm }));
  const inputs = comms.map((_, r) => randomArray(length, 1000 * world + r + length));
  const expected = new Float64Array(length);
  for (const a of inputs) for (let i = 0; i < length; i++) expected[i] = (expected[i] as number) + (a[i] as number);
  const bufs = inputs.map((a) => a.slice());
  await Promise.all(comms.map((c, r) => c.allReduceSum(bufs[r] as Float32Array)));
  for (let r = 0; r < world; r++) {
    const b = bufs[r] as Float32Array;
    for (let i = 0; i < length; i++) {
      const e = expected[i] as number;
      if (Math.abs((b[i] as number) - e) > 1e-5 * world + 1e-6 * Math.abs(e)) {
        assert.fail(`world ${world} length ${length}: rank ${r} element ${i} is ${b[i]}, expected ${e}`);
      }
    }
  }
}

for (let world = 1; world <= 6; world++) {
  const lengths = [...new Set([0, 1, Math.max(0, world - 1), world + 1, 1_000_003])];
  test(`ring all-reduce over ${world} in-memory ranks equals the exact sum for lengths ${lengths.join(', ')}`, async () => {
    // Two ranks take the one-round pair exchange for buckets up to 1 Mi elements: test the ring too.
    for (const n of lengths) await allReduceCase(world, n, 'ring');
    if (world === 2) for (const n of lengths) await allReduceCase(world, n, 'auto');
  });
}

test('two ranks exchange small buckets in one round, and both end with the same bits as the ring gives', async () => {
  const length = 70_001;
  const inputs = [randomArray(length, 5), randomArray(length, 6)];
  const run = async (algorithm: 'auto' | 'ring'): Promise<{ bufs: Float32Array[]; messages: number }> => {
    const hub = new MemoryHub('job', 2);
    const transports = hub.endpoints();
    let messages = 0;
    for (const t of transports) {
      const send = t.send.bind(t);
      t.send = (...args: Parameters<typeof t.send>) => {
        messages += 1;
        return send(...args);
      };
    }
    const comms = transports.map((t) => new Communicator(t, { blockElements: 1 << 20, algorithm }));
    const bufs = inputs.map((a) => a.slice());
    await Promise.all(comms.map((c, r) => c.allReduceSum(bufs[r] as Float32Array)));
    return { bufs, messages };
  };
  const pair = await run('auto');
  const ring = await run('ring');
  // One message each way instead of two (reduce-scatter, then all-gather).
  assert.equal(pair.messages, 2);
  assert.equal(ring.messages, 4);
  const exact = inputs[0]!.map((a, i) => Math.fround(a + (inputs[1]![i] as number)));
  assert.deepEqual(pair.bufs[0], exact);
  assert.deepEqual(pair.bufs[1], exact);
  assert.deepEqual(ring.bufs[0], exact);
});

test('all-reduce crosses bucket boundaries and still sums every element', async () => {
  const comms = new MemoryHub('job', 3)
    .endpoints()
    .map((t) => new Communicator(t, { bucketElements: 7, blockElements: 3 }));
  const bufs = comms.map((_, r) => Float32Array.from({ length: 50 }, (_, i) => i * (r + 1)));
  await Promise.all(comms.map((c, r) => c.allReduceSum(bufs[r] as Float32Array)));
  for (const b of bufs)
    assert.deepEqual(
      Array.from(b),
      Array.from({ length: 50 }, (_, i) => i * 6),
    );
});

test('broadcast copies the root buffer to every rank, from any root', async () => {
  for (const root of [0, 2]) {
    const comms = new MemoryHub('job', 4).endpoints().map((t) => new Communicator(t));
    const bufs = comms.map((_, r) => new Float32Array(10).fill(r + 1));
    await Promise.all(comms.map((c, r) => c.broadcast(bufs[r] as Float32Array, root)));
    for (const b of bufs) assert.deepEqual(Array.from(b), new Array(10).fill(root + 1));
  }
});

test('barrier resolves on every rank once all arrive', async () => {
  const comms = new MemoryHub('job', 3).endpoints().map((t) => new Communicator(t));
  const order: number[] = [];
  await Promise.all(
    comms.map(async (c, r) => {
      await new Promise((res) => setTimeout(res, r * 20));
      await c.barrier();
      order.push(r);
    }),
  );
  assert.deepEqual(order.sort(), [0, 1, 2]);
});

test('mismatched lengths across ranks fail with a message naming both sizes', async () => {
  const comms = new MemoryHub('job', 2, 2000).endpoints().map((t) => new Communicator(t));
  const results = await Promise.allSettled([
    comms[0]!.allReduceSum(new Float32Array(10)),
    comms[1]!.allReduceSum(new Float32Array(12)),
  ]);
  const errors = results
    .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    .map((r) => r.reason as Error);
  assert.ok(errors.length >= 1);
  assert.ok(
    errors.some((e) => isRingtrainError(e) && e.code === 'SIZE_MISMATCH' && /expected \d+/.test(e.message)),
    errors.map((e) => e.message).join('; '),
  );
});

test('a rank that never shows up makes the others time out naming it', async () => {
  const comms = new MemoryHub('job', 3, 200).endpoints().map((t) => new Communicator(t));
  const results = await Promise.allSettled([
    comms[0]!.allReduceSum(new Float32Array(9)),
    comms[1]!.allReduceSum(new Float32Array(9)),
  ]);
  const msgs = results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'resolved'));
  assert.ok(msgs.every((m) => m !== 'resolved'));
  assert.ok(
    msgs.some((m) => /rank 2/.test(m)),
    msgs.join(' | '),
  );
});

test('splitChunks covers the buffer exactly, with some empty chunks when length < parts', () => {
  assert.deepEqual(
    splitChunks(2, 4).map((c) => c.length),
    [1, 1, 0, 0],
  );
  assert.deepEqual(splitChunks(10, 3), [
    { offset: 0, length: 4 },
    { offset: 4, length: 3 },
    { offset: 7, length: 3 },
  ]);
});

for (const dtype of ['fp16', 'bf16'] as const) {
  test(`all-reduce with ${dtype} on the wire sums in float32 to within the encoding's precision`, async () => {
    for (const world of [2, 3, 5]) {
      const comms = new MemoryHub('job', world)
        .endpoints()
        .map((t) => new Communicator(t, { dtype, blockElements: 100 }));
      const inputs = comms.map((_, r) => randomArray(5001, 77 + r));
      const bufs = inputs.map((a) => a.slice());
      await Promise.all(comms.map((c, r) => c.allReduceSum(bufs[r] as Float32Array)));
      // Each hop rounds once: fp16 keeps 11 significant bits, bf16 8.
      const tol = dtype === 'fp16' ? 2e-3 * world : 1.6e-2 * world;
      let rounded = 0;
      for (let i = 0; i < 5001; i++) {
        const exact = inputs.reduce((s, a) => s + (a[i] as number), 0);
        for (const b of bufs)
          assert.ok(
            Math.abs((b[i] as number) - exact) <= tol,
            `${dtype} world ${world} element ${i}: ${b[i]} vs ${exact}`,
          );
        if (Math.abs((bufs[0]![i] as number) - exact) > 1e-6) rounded++;
      }
      assert.ok(rounded > 1000, `only ${rounded} of 5001 values show ${dtype} rounding: was it compressed at all?`);
      for (const b of bufs.slice(1)) assert.deepEqual(b, bufs[0], 'every rank must end with identical values');
    }
  });
}

test('small buffers (metric sums) stay exact float32 even with compression on', async () => {
  const comms = new MemoryHub('job', 3).endpoints().map((t) => new Communicator(t, { dtype: 'bf16' }));
  const bufs = comms.map((_, r) => Float32Array.from([12345.678 + r, 1 / 3, 60000 + r]));
  await Promise.all(comms.map((c, r) => c.allReduceSum(bufs[r] as Float32Array)));
  const exact = Float32Array.from([12345.678 * 3 + 3, 1, 180003]);
  for (const b of bufs)
    for (let i = 0; i < 3; i++)
      assert.ok(Math.abs((b[i] as number) - (exact[i] as number)) < 1e-2, `${b[i]} vs ${exact[i]}`);
});

test('buckets packed on the fly are each reduced while later ones are packed, and sum exactly', async () => {
  const world = 3;
  const length = 1000;
  const comms = new MemoryHub('job', world)
    .endpoints()
    .map((t) => new Communicator(t, { bucketElements: 128, blockElements: 50 }));
  const sources = comms.map((_, r) => randomArray(length, 500 + r));
  const bufs = comms.map(() => new Float32Array(length));
  const packed: [number, number][][] = comms.map(() => []);
  await Promise.all(
    comms.map((c, r) =>
      c.allReduceSum(bufs[r] as Float32Array, (start, end) => {
        packed[r]!.push([start, end]);
        (bufs[r] as Float32Array).set((sources[r] as Float32Array).subarray(start, end), start);
      }),
    ),
  );
  assert.deepEqual(
    packed[0],
    Array.from({ length: 8 }, (_, i) => [i * 128, Math.min(length, (i + 1) * 128)]),
  );
  for (let i = 0; i < length; i++) {
    const exact = sources.reduce((s, a) => s + (a[i] as number), 0);
    for (const b of bufs) assert.ok(Math.abs((b[i] as number) - exact) < 1e-5, `element ${i}: ${b[i]} vs ${exact}`);
  }
});

for (const dtype of ['fp32', 'fp16'] as const) {
  test(`${dtype}: buffers from allocate (summed with SIMD in their own memory) end bit-identical to plain buffers, across buckets and ranks`, async () => {
    for (const world of [2, 3, 5]) {
      const length = 70_001; // not a multiple of 4, several buckets, uneven chunks
      const opts = { bucketElements: 30_000, blockElements: 4_999, dtype };
      const inputs = Array.from({ length: world }, (_, r) => randomArray(length, 77 + r));
      const plainComms = new MemoryHub('job', world).endpoints().map((t) => new Communicator(t, opts));
      const simdComms = new MemoryHub('job', world).endpoints().map((t) => new Communicator(t, opts));
      const plain = inputs.map((a) => a.slice());
      const simd = simdComms.map((c, r) => {
        const b = c.allocate(length);
        b.set(inputs[r] as Float32Array);
        return b;
      });
      assert.ok(
        simd[0]!.buffer.byteLength >= length * 4 + Math.ceil(length / 2) * 4,
        'allocate reserves the landing space beside the data',
      );
      assert.equal(
        simd[0]!.buffer instanceof ArrayBuffer && !(simd[0]!.buffer.constructor === SharedArrayBuffer),
        true,
      );
      await Promise.all(plainComms.map((c, r) => c.allReduceMean(plain[r] as Float32Array)));
      await Promise.all(simdComms.map((c, r) => c.allReduceMean(simd[r] as Float32Array)));
      for (let r = 0; r < world; r++) {
        const a = plain[r] as Float32Array;
        const b = simd[r] as Float32Array;
        assert.equal(b.length, length);
        for (let i = 0; i < length; i++) {
          if (!Object.is(a[i], b[i]))
            assert.fail(`world ${world} rank ${r} element ${i}: simd ${b[i]} vs plain ${a[i]}`);
        }
      }
      const mean = (i: number): number => inputs.reduce((s, a) => s + (a[i] as number), 0) / world;
      for (const i of [0, 1, 29_999, 30_000, length - 1])
        assert.ok(Math.abs((simd[0] as Float32Array)[i]! - mean(i)) < (dtype === 'fp32' ? 1e-6 : 2e-3), `element ${i}`);
    }
  });
}

test('lastFirstArrival tells a rank that waited for a late peer from one whose peer was early', async () => {
  const [c0, c1] = new MemoryHub('job', 2).endpoints().map((t) => new Communicator(t)) as [Communicator, Communicator];
  const a = Float32Array.from([1, 2, 3]);
  const b = Float32Array.from([10, 20, 30]);
  const start0 = process.hrtime.bigint();
  const r0 = c0.allReduceSum(a);
  // Rank 1 turns up 100 ms late: rank 0 waits for it; rank 1 finds rank 0's data already there.
  await new Promise((r) => setTimeout(r, 100));
  const start1 = process.hrtime.bigint();
  await Promise.all([r0, c1.allReduceSum(b)]);
  assert.deepEqual(Array.from(a), [11, 22, 33]);
  const waited0 = Number((c0.lastFirstArrival as bigint) - start0) / 1e6;
  assert.ok(waited0 >= 50, `rank 0 saw rank 1's first message ${waited0} ms after it started, expected about 100`);
  assert.ok((c1.lastFirstArrival as bigint) < start1, 'rank 0 sent before rank 1 started');
  const solo = new Communicator(new MemoryHub('job', 1).endpoints()[0]!);
  await solo.allReduceSum(Float32Array.from([1]));
  assert.equal(solo.lastFirstArrival, undefined, 'one rank has no neighbour');
});
