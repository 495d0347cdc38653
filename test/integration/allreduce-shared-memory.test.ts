import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import {
  Communicator,
  createRingEndpoint,
  type EndpointOptions,
  type MessageKey,
  type RingEndpoint,
  type Transport,
  type TransportKind,
} from '../../src/allreduce';
import { pairCandidate, sharedPairSetup, type PairConditions } from '../../src/allreduce/shared-pair-setup';
import { DATA_START, SegmentRing } from '../../src/allreduce/shm-segment';
import { sameHostRanks } from '../../src/allreduce/shm-segment';
import type { TcpTransport } from '../../src/allreduce/transport-tcp';
import { pollsHere } from '../../src/allreduce/tcp-shared-links';
import { DEFAULT_JOB } from '../../src/config';
import { isRingtrainError } from '../../src/core/errors';
import { nativeSharedMemory } from '../../src/native';

// The shared-memory path needs the native addon (CI builds it; see native-build.test.ts).
const skip = nativeSharedMemory().shm === undefined ? `no native addon: ${nativeSharedMemory().why ?? ''}` : false;

interface ShmRing {
  comms: Communicator[];
  transports: Transport[];
  addresses: string[];
  notes: string[][];
  close(): Promise<void>;
}

async function tcpRing(
  world: number,
  opts: EndpointOptions,
  timeoutMs = 5000,
  kind: TransportKind = 'tcp',
): Promise<ShmRing> {
  const notes: string[][] = Array.from({ length: world }, () => []);
  const endpoints: RingEndpoint[] = notes.map((n) =>
    createRingEndpoint(kind, 'job', timeoutMs, { ...opts, onNote: (x) => n.push(x) }),
  );
  const ports = await Promise.all(endpoints.map((e) => e.listen('127.0.0.1', 0)));
  const addresses = ports.map((p) => `127.0.0.1:${p}`);
  const transports = await Promise.all(
    endpoints.map((e, rank) => e.attach({ job: 'job', generation: 1, rank, worldSize: world }, addresses)),
  );
  return {
    comms: transports.map((t) => new Communicator(t, { blockElements: 100_000 })),
    transports,
    addresses,
    notes,
    close: async () => {
      await Promise.all(endpoints.map((e) => e.close()));
    },
  };
}

/** Waits (bounded) until every rank heard where its payloads go. */
async function settled(r: ShmRing): Promise<void> {
  for (let i = 0; i < 200 && r.notes.some((n) => n.length === 0); i++) await new Promise((res) => setTimeout(res, 10));
}

async function sumsExactly(r: ShmRing, length: number): Promise<void> {
  const world = r.comms.length;
  const bufs = r.comms.map((_, rank) => Float32Array.from({ length }, (_, i) => ((i % 89) - 44) * 0.5 + rank));
  await Promise.all(r.comms.map((c, rank) => c.allReduceSum(bufs[rank] as Float32Array)));
  const rankSum = (world * (world - 1)) / 2;
  for (const b of bufs) {
    for (let i = 0; i < length; i++) {
      const expected = world * (((i % 89) - 44) * 0.5) + rankSum;
      if (b[i] !== expected) assert.fail(`length ${length} element ${i}: ${b[i]} vs ${expected}`);
    }
  }
}

const ownFiles = (): string[] =>
  fs.existsSync('/dev/shm') ? fs.readdirSync('/dev/shm').filter((f) => f.startsWith(`ringtrain-${process.pid}-`)) : [];

for (const [world, pollMicros] of [
  [2, 0],
  [3, 0],
  [2, 2000],
  [3, 2000],
] as const) {
  test(
    `tcp with shared memory${pollMicros > 0 ? ', polling' : ''}: ${world} ranks on one host map each other's segments, sum exactly, and leave no file behind`,
    { skip },
    async () => {
      const r = await tcpRing(world, { sharedMemoryBytes: 8 << 20, pollMicros });
      try {
        await settled(r);
        for (let rank = 0; rank < world; rank++) {
          const next = (rank + 1) % world;
          assert.deepEqual(r.notes[rank], [
            `payloads to rank ${next} at ${r.addresses[next]} go through shared memory (8 MiB segment)`,
          ]);
          assert.deepEqual((r.transports[rank] as TcpTransport).sharedMemory, { to: [next], from: true });
        }
        assert.deepEqual(ownFiles(), [], 'segment files are unlinked once mapped');
        // Polling only where every rank of this host can have a CPU (3 ranks on a 2-CPU machine do not).
        for (const t of r.transports)
          assert.equal((t as TcpTransport).polling, pollMicros > 0 && world <= os.cpus().length);
        // Buffers larger than the 8 MiB segment too: payloads that find no room go over the socket.
        for (const length of [1, 5000, 101_770, 3_000_001]) await sumsExactly(r, length);
        const w = r.comms.map((_, rank) => new Float32Array(20_000).fill(rank === 0 ? 3 : 0));
        await Promise.all(r.comms.map((c, rank) => c.broadcast(w[rank] as Float32Array)));
        for (const b of w) assert.ok(b.every((v) => v === 3));
      } finally {
        await r.close();
      }
    },
  );
}

test(
  'tcp with shared memory: a payload of the wrong size is refused on both sides, naming both sizes',
  { skip },
  async () => {
    const r = await tcpRing(2, { sharedMemoryBytes: 1 << 20 });
    try {
      await settled(r);
      const key = { op: 'allreduce' as const, opSeq: 1, bucket: 0, step: 0, chunk: 0, block: 0 };
      r.transports[1]!.beginOp(1);
      const recv = r.transports[1]!.recv(0, key, new Uint8Array(8192 * 4), { elements: 8192, dtype: 'fp32' });
      recv.catch(() => undefined);
      await assert.rejects(
        r.transports[0]!.send(1, key, new Uint8Array(6000 * 4), { elements: 6000, dtype: 'fp32' }),
        (e: unknown) =>
          isRingtrainError(e) && e.code === 'SIZE_MISMATCH' && /sent 6000 float32 .* expected 8192/.test(e.message),
      );
      await assert.rejects(recv, /expected 8192/);
      // The refused payload's region was freed: the segment still takes a full-size message.
      assert.deepEqual((r.transports[0] as TcpTransport).sharedMemory.to, [1]);
      await sumsExactly(r, 200_000);
    } finally {
      await r.close();
    }
  },
);

test(
  "tcp with shared memory: a frame pointing past the receiver's segment is refused, and the sender hears why",
  { skip },
  async () => {
    const r = await tcpRing(2, { sharedMemoryBytes: 1 << 20 });
    try {
      await settled(r);
      // As a confused or hostile sender would: it believes the segment is 8 MiB.
      (r.transports[0] as unknown as { shared: { to: Map<number, SegmentRing> } }).shared.to.set(
        1,
        new SegmentRing(new Uint8Array(8 << 20)),
      );
      const key = { op: 'allreduce' as const, opSeq: 1, bucket: 0, step: 0, chunk: 0, block: 0 };
      r.transports[1]!.beginOp(1);
      const recv = r.transports[1]!.recv(0, key, new Uint8Array(2 << 20), { elements: (2 << 20) / 4, dtype: 'fp32' });
      recv.catch(() => undefined);
      await assert.rejects(
        r.transports[0]!.send(1, key, new Uint8Array(2 << 20), { elements: (2 << 20) / 4, dtype: 'fp32' }),
        (e: unknown) =>
          isRingtrainError(e) &&
          e.code === 'PEER_REFUSED' &&
          new RegExp(
            `rank 1 at 127\\.0\\.0\\.1:\\d+ refused .*: a shared-memory payload at ${DATA_START}\\+2097152 runs past the 1048576-byte segment`,
          ).test(e.message),
      );
    } finally {
      await r.close();
    }
  },
);

test(
  'tcp with shared memory: without a place for segments, payloads go over the socket and the log says why',
  { skip },
  async () => {
    const r = await tcpRing(2, { sharedMemoryBytes: 1 << 20, sharedMemoryDir: '/nonexistent-shm-dir' });
    try {
      await settled(r);
      for (const n of r.notes)
        assert.match(
          n[0] ?? '',
          /^payloads to rank \d at 127\.0\.0\.1:\d+ go over TCP: no shared memory \(\/nonexistent-shm-dir does not exist\)$/,
        );
      for (const t of r.transports) assert.deepEqual((t as TcpTransport).sharedMemory, { to: [], from: false });
      await sumsExactly(r, 101_770);
      // Rank 0 could not create the pair's file either, so both ranks took the messages' path.
      assert.deepEqual(
        r.comms.map((c) => c.stats.sharedPairOps),
        [0, 0],
      );
    } finally {
      await r.close();
    }
  },
);

test('tcp without shared memory (sharedMemoryBytes 0) offers no segment', async () => {
  const r = await tcpRing(2, {});
  try {
    await sumsExactly(r, 50_000);
    for (const t of r.transports) assert.deepEqual((t as TcpTransport).sharedMemory, { to: [], from: false });
    assert.deepEqual(r.notes, [[], []]);
  } finally {
    await r.close();
  }
});

// Two ranks poll only where each can have a CPU.
const pollSkip = skip !== false ? skip : os.cpus().length < 2 ? 'fewer than 2 CPUs: polling stays off' : false;

/** Two ranks with mapped segments, both in collective #1, and the key of its first message. */
async function pollingPair(
  pollMicros: number,
): Promise<{ r: ShmRing; t0: TcpTransport; t1: TcpTransport; key: MessageKey }> {
  const r = await tcpRing(2, { sharedMemoryBytes: 1 << 20, pollMicros });
  await settled(r);
  const [t0, t1] = r.transports as [TcpTransport, TcpTransport];
  t0.beginOp(1);
  t1.beginOp(1);
  return { r, t0, t1, key: { op: 'allreduce', opSeq: 1, bucket: 0, step: 0, chunk: 0, block: 0 } };
}

test(
  "tcp with shared memory: a polling rank takes its neighbour's payload out of shared memory without the event loop; one that does not poll waits for the socket",
  { skip: pollSkip },
  async () => {
    for (const pollMicros of [0, 2_000_000]) {
      const { r, t0, t1, key } = await pollingPair(pollMicros);
      try {
        const payload = Uint8Array.from({ length: 8192 * 4 }, (_, i) => (i * 31) & 0xff);
        const out = new Uint8Array(payload.length);
        const recv = t1.recv(0, key, out, { elements: 8192, dtype: 'fp32' });
        const sent = t0.send(1, key, payload, { elements: 8192, dtype: 'fp32' });
        // One synchronous stretch from the send to here: no socket event can have been handled.
        t1.poll(0, key);
        const taken = t1.mailbox.postedFor(0, key) === undefined;
        assert.equal(
          taken,
          pollMicros > 0,
          pollMicros > 0 ? 'polling found the frame in the segment' : 'without polling only the socket delivers',
        );
        if (taken) assert.deepEqual(out, payload, 'the payload was copied out during the poll');
        await recv;
        await sent;
        assert.deepEqual(out, payload);
        // The kick that follows a polled frame finds the queue empty and changes nothing.
        await sumsExactly(r, 101_770);
        await sumsExactly(r, 3_000_001);
      } finally {
        await r.close();
      }
    }
  },
);

test(
  'tcp with shared memory: a poll that sees nothing gives up after its budget, and the message still arrives by the socket path',
  { skip: pollSkip },
  async () => {
    const { r, t0, t1, key } = await pollingPair(20_000);
    try {
      const out = new Uint8Array(8192 * 4);
      const recv = t1.recv(0, key, out, { elements: 8192, dtype: 'fp32' });
      t1.poll(0, key);
      assert.notEqual(t1.mailbox.postedFor(0, key), undefined, 'nothing was sent, so nothing was taken');
      await t0.send(1, key, new Uint8Array(out.length).fill(9), { elements: 8192, dtype: 'fp32' });
      await recv;
      assert.ok(out.every((v) => v === 9));
    } finally {
      await r.close();
    }
  },
);

test(
  'tcp with shared memory, two polling ranks: all-reduces go through one shared file, bit for bit alike, and larger buffers take the ring',
  { skip: pollSkip },
  async () => {
    const r = await tcpRing(2, { sharedMemoryBytes: 8 << 20, pollMicros: 2000 });
    try {
      await settled(r);
      const [c0, c1] = r.comms as [Communicator, Communicator];
      for (const length of [1, 5000, 101_770]) await sumsExactly(r, length);
      assert.deepEqual(
        r.comms.map((c) => c.stats.sharedPairOps),
        [3, 3],
      );
      assert.deepEqual(ownFiles(), [], 'the pair file is unlinked once both mapped it');
      // Many in a row with values that round: each rank's half is reused only after the peer
      // copied it out, and both ranks end with the float32 sum, the same bits on both.
      let seed = 7;
      const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
      for (let it = 0; it < 40; it++) {
        const n = 1 + ((it * 7919) % 60_000);
        const a = Float32Array.from({ length: n }, rand);
        const b = Float32Array.from({ length: n }, rand);
        // Odd rounds take the mean: the sum rounded to float32, then halved, in one pass.
        const mean = it % 2 === 1;
        const want = a.map((v, i) => Math.fround(v + (b[i] as number)) * (mean ? 0.5 : 1));
        const x = a.slice();
        const y = b.slice();
        await Promise.all(mean ? [c0.allReduceMean(x), c1.allReduceMean(y)] : [c0.allReduceSum(x), c1.allReduceSum(y)]);
        assert.deepEqual(x, want, `all-reduce ${it}`);
        assert.deepEqual(y, want, `all-reduce ${it}`);
      }
      assert.deepEqual(
        r.comms.map((c) => c.stats.sharedPairOps),
        [43, 43],
      );
      // Half of the 8 MiB file holds ~1M floats: 3M go the ring's way, still exactly.
      await sumsExactly(r, 3_000_001);
      assert.deepEqual(
        r.comms.map((c) => c.stats.sharedPairOps),
        [43, 43],
      );
    } finally {
      await r.close();
    }
  },
);

test(
  'tcp with shared memory, two polling ranks: a buffer from allocateShared lives in the file and is all-reduced in place, bit for bit alike, with copy-path all-reduces in between left alone',
  { skip: pollSkip },
  async () => {
    const r = await tcpRing(2, { sharedMemoryBytes: 8 << 20, pollMicros: 2000 });
    try {
      const [c0, c1] = r.comms as [Communicator, Communicator];
      // Odd lengths: the split between the ranks' parts falls on a cache line, not in the middle.
      const n = 101_775;
      const [x, y] = await Promise.all([c0.allocateShared(n), c1.allocateShared(n)]);
      assert.ok(x.every((v) => v === 0) && y.every((v) => v === 0), 'zeroed');
      assert.deepEqual(
        [x.buffer.byteLength, y.buffer.byteLength],
        [8 << 20, 8 << 20],
        'each buffer is a view of the mapped file',
      );
      assert.deepEqual(ownFiles(), [], 'the pair file is unlinked once both mapped it');
      let seed = 11;
      const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
      for (let it = 0; it < 30; it++) {
        const a = Float32Array.from({ length: n }, rand);
        const b = Float32Array.from({ length: n }, rand);
        x.set(a);
        y.set(b);
        const mean = it % 2 === 1;
        const want = a.map((v, i) => Math.fround(v + (b[i] as number)) * (mean ? 0.5 : 1));
        await Promise.all(mean ? [c0.allReduceMean(x), c1.allReduceMean(y)] : [c0.allReduceSum(x), c1.allReduceSum(y)]);
        assert.deepEqual(x, want, `in-place all-reduce ${it}, rank 0`);
        assert.deepEqual(y, want, `in-place all-reduce ${it}, rank 1`);
        // The caller writes its buffer at once (the peer is done reading it); a small copy-path
        // all-reduce stages elsewhere in the half and leaves the buffer as it was.
        x.fill(3);
        y.fill(3);
        await sumsExactly(r, 1000 + it);
        assert.ok(
          x.every((v) => v === 3) && y.every((v) => v === 3),
          `buffers untouched by copy-path all-reduce ${it}`,
        );
      }
      assert.deepEqual(
        r.comms.map((c) => c.stats.sharedPairOps),
        [60, 60],
      );
      // The copy path stages below the resident buffer: 1M floats fit a half (~1.05M) but not
      // the room below it (~0.95M), so they take the ring.
      await sumsExactly(r, 1_000_000);
      assert.deepEqual(
        r.comms.map((c) => c.stats.sharedPairOps),
        [60, 60],
      );
    } finally {
      await r.close();
    }
  },
);

test(
  "a polling pair's in-place mean also yields the sum of squares of its first values, read in the summing pass: the same number on both ranks, the norm of the mean to float64 rounding",
  { skip: pollSkip },
  async () => {
    const r = await tcpRing(2, { sharedMemoryBytes: 8 << 20, pollMicros: 2000 });
    try {
      const [c0, c1] = r.comms as [Communicator, Communicator];
      // The MLP's gradient (101,770) with the step's sums riding behind it, which the norm leaves out.
      const [n, squaresOf] = [101_775, 101_770];
      const [x, y] = await Promise.all([c0.allocateShared(n), c1.allocateShared(n)]);
      let seed = 5;
      const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
      for (let it = 0; it < 5; it++) {
        const a = Float32Array.from({ length: n }, rand);
        const b = Float32Array.from({ length: n }, rand);
        // Large values behind the gradient: counted, the sum would be far off.
        a.fill(1e6, squaresOf);
        x.set(a);
        y.set(b);
        const want = a.map((v, i) => Math.fround(v + (b[i] as number)) * 0.5);
        await Promise.all([c0.allReduceMean(x, undefined, squaresOf), c1.allReduceMean(y, undefined, squaresOf)]);
        assert.deepEqual(x, want, `the mean itself is unchanged, rank 0, ${it}`);
        assert.deepEqual(y, want, `rank 1, ${it}`);
        const [s0, s1] = [c0.lastSumSquares, c1.lastSumSquares];
        assert.ok(s0 !== undefined && s0 === s1, `both ranks hold the same sum: ${s0} and ${s1}`);
        const exact = want.subarray(0, squaresOf).reduce((t, v) => t + v * v, 0);
        assert.ok(Math.abs(s0 - exact) <= 1e-12 * exact, `${s0} against ${exact}`);
        // A mean that does not ask for it gets none.
        await Promise.all([c0.allReduceMean(x), c1.allReduceMean(y)]);
        assert.deepEqual([c0.lastSumSquares, c1.lastSumSquares], [undefined, undefined]);
      }
    } finally {
      await r.close();
    }
  },
);

test(
  'tcp with shared memory, a polling pair whose resident buffers differ in length: the all-reduce fails on both ranks, naming both lengths',
  { skip: pollSkip },
  async () => {
    const r = await tcpRing(2, { sharedMemoryBytes: 8 << 20, pollMicros: 2000 }, 1000);
    try {
      const [c0, c1] = r.comms as [Communicator, Communicator];
      const [x, y] = await Promise.all([c0.allocateShared(5000), c1.allocateShared(5008)]);
      const results = await Promise.allSettled([c0.allReduceSum(x), c1.allReduceSum(y)]);
      const messages = results.map((res) =>
        res.status === 'rejected' && isRingtrainError(res.reason) && res.reason.code === 'SIZE_MISMATCH'
          ? res.reason.message
          : `not a size mismatch: ${res.status}`,
      );
      assert.match(
        messages[0] as string,
        /^shared-memory all-reduce: this rank's buffer holds 5000 floats, rank 1 at 127\.0\.0\.1:\d+'s 5008: both ranks must train the same model$/,
      );
      assert.match(
        messages[1] as string,
        /^shared-memory all-reduce: this rank's buffer holds 5008 floats, rank 0 at 127\.0\.0\.1:\d+'s 5000: both ranks must train the same model$/,
      );
    } finally {
      await r.close();
    }
  },
);

test(
  'tcp with shared memory, ranks that do not poll: no shared file, all-reduces go as messages',
  { skip },
  async () => {
    const r = await tcpRing(2, { sharedMemoryBytes: 8 << 20, pollMicros: 0 });
    try {
      await settled(r);
      await sumsExactly(r, 101_770);
      assert.deepEqual(
        r.comms.map((c) => c.stats.sharedPairOps),
        [0, 0],
      );
    } finally {
      await r.close();
    }
  },
);

test(
  'tcp with shared memory, two polling ranks asked for the ring (algorithm ring): no shared file, the ring sums',
  { skip: pollSkip },
  async () => {
    const r = await tcpRing(2, { sharedMemoryBytes: 8 << 20, pollMicros: 2000 });
    try {
      await settled(r);
      r.comms = r.transports.map((t) => new Communicator(t, { algorithm: 'ring' }));
      await sumsExactly(r, 101_770);
      assert.deepEqual(
        r.comms.map((c) => c.stats.sharedPairOps),
        [0, 0],
      );
    } finally {
      await r.close();
    }
  },
);

test(
  'tcp with shared memory, a polling pair: a peer that never joins the all-reduce is named when the deadline passes; an abort ends the wait at once',
  { skip: pollSkip },
  async () => {
    const r = await tcpRing(2, { sharedMemoryBytes: 8 << 20, pollMicros: 2000 }, 1000);
    try {
      await settled(r);
      await sumsExactly(r, 5000);
      const [c0] = r.comms as [Communicator, Communicator];
      assert.equal(c0.stats.sharedPairOps, 1);
      const started = Date.now();
      await assert.rejects(
        c0.allReduceSum(new Float32Array(5000)),
        (e: unknown) =>
          isRingtrainError(e) &&
          e.code === 'TIMEOUT' &&
          /^shared-memory all-reduce: rank 1 at 127\.0\.0\.1:\d+ did not publish all-reduce #2 within 1000 ms$/.test(
            e.message,
          ),
      );
      assert.ok(Date.now() - started >= 1000, 'not before the deadline');
      // Rank 0 is now a step ahead for good; a new wait ends with the ring's abort, long before a deadline.
      const reason = new Error('generation 1 replaced');
      const waiting = c0.allReduceSum(new Float32Array(5000));
      setTimeout(() => r.transports[0]!.abort(reason), 50);
      const t0 = Date.now();
      await assert.rejects(waiting, (e: unknown) => e === reason);
      assert.ok(Date.now() - t0 < 900, `the abort ended the wait (${Date.now() - t0} ms)`);
    } finally {
      await r.close();
    }
  },
);

test(
  'grpc, two polling ranks on one host: the gradient buffer from allocateShared is summed in place in the shared file, bit for bit alike; other buffers go as gRPC messages past the file',
  { skip: pollSkip },
  async () => {
    const r = await tcpRing(2, { sharedMemoryBytes: 8 << 20, pollMicros: 2000 }, 5000, 'grpc');
    try {
      const [c0, c1] = r.comms as [Communicator, Communicator];
      const n = 101_775;
      const [x, y] = await Promise.all([c0.allocateShared(n), c1.allocateShared(n)]);
      assert.deepEqual(
        [x.buffer.byteLength, y.buffer.byteLength],
        [8 << 20, 8 << 20],
        'each buffer is a view of the mapped file',
      );
      assert.deepEqual(ownFiles(), [], 'the pair file is unlinked once both mapped it');
      let seed = 5;
      const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
      for (let it = 0; it < 10; it++) {
        const a = Float32Array.from({ length: n }, rand);
        const b = Float32Array.from({ length: n }, rand);
        x.set(a);
        y.set(b);
        const want = a.map((v, i) => Math.fround(v + (b[i] as number)) * 0.5);
        await Promise.all([c0.allReduceMean(x), c1.allReduceMean(y)]);
        assert.deepEqual(x, want, `in-place mean ${it}, rank 0`);
        assert.deepEqual(y, want, `in-place mean ${it}, rank 1`);
      }
      assert.deepEqual(
        r.comms.map((c) => c.stats.sharedPairOps),
        [10, 10],
      );
      assert.equal(c0.overlapped(x), undefined, 'the pair keeps its in-place path: no backward overlap');
      // 3M floats do not fit a half: the ring over gRPC sums them, exactly.
      await sumsExactly(r, 3_000_001);
      assert.deepEqual(
        r.comms.map((c) => c.stats.sharedPairOps),
        [10, 10],
      );
      // A peer that stops answering: the wait ends with the gRPC ring's abort, not at a deadline.
      const reason = new Error('generation 1 replaced');
      const waiting = c0.allReduceSum(x);
      setTimeout(() => r.transports[0]!.abort(reason), 50);
      await assert.rejects(waiting, (e: unknown) => e === reason);
    } finally {
      await r.close();
    }
  },
);

test(
  "a pair whose training buffer does not fit the file's in-place room says how its all-reduces go and what sharedMemoryMb fixes it, and still sums exactly",
  { skip: pollSkip },
  async () => {
    const r = await tcpRing(2, { sharedMemoryBytes: 8 << 20, pollMicros: 2000 });
    try {
      const [c0, c1] = r.comms as [Communicator, Communicator];
      const notes: string[] = [];
      for (const c of r.comms)
        (c as unknown as { options: { onNote?: (n: string) => void } }).options.onNote = (n) => notes.push(n);
      // 1.5M floats (5.7 MiB): more than a quarter of the 8 MiB file, more than a half's 4 MiB too.
      const n = 1_500_000;
      const [x, y] = await Promise.all([c0.allocateShared(n), c1.allocateShared(n)]);
      assert.ok(x.buffer.byteLength !== 8 << 20 && y.buffer.byteLength !== 8 << 20, 'not views of the file');
      assert.ok(notes.length >= 2, notes.join('\n'));
      for (const note of notes.filter((t) => t.startsWith("the training step's"))) {
        assert.equal(
          note,
          "the training step's 5.7 MiB gradient buffer does not fit the shared file's room for summing in place (a quarter of cluster.sharedMemoryMb): its all-reduces are sent as messages; set cluster.sharedMemoryMb to 24 or more to sum it in place",
        );
      }
      x.fill(1.5);
      y.fill(2);
      await Promise.all([c0.allReduceSum(x), c1.allReduceSum(y)]);
      assert.ok(x.every((v) => v === 3.5) && y.every((v) => v === 3.5));
      // 600K floats (2.3 MiB) fit a half, not the in-place room: copied through the file.
      notes.length = 0;
      await Promise.all([c0.allocateShared(600_000), c1.allocateShared(600_000)]);
      assert.deepEqual(
        notes.map((t) => t.replace(/^the training step's [\d.]+ MiB/, 'BUF').replace(/ \d+ or more/, ' N or more')),
        new Array(2).fill(
          "BUF gradient buffer does not fit the shared file's room for summing in place (a quarter of cluster.sharedMemoryMb): its all-reduces are copied through the shared file; set cluster.sharedMemoryMb to N or more to sum it in place",
        ),
      );
    } finally {
      await r.close();
    }
    // The size the note asked for is enough.
    const fixed = await tcpRing(2, { sharedMemoryBytes: 24 << 20, pollMicros: 2000 });
    try {
      const bufs = await Promise.all(fixed.comms.map((c) => c.allocateShared(1_500_000)));
      assert.deepEqual(
        bufs.map((b) => b.buffer.byteLength),
        [24 << 20, 24 << 20],
        'views of the 24 MiB file',
      );
    } finally {
      await fixed.close();
    }
  },
);

test('grpc with no shared memory (sharedMemoryBytes 0): two ranks on one host sum as messages', async () => {
  const r = await tcpRing(2, { sharedMemoryBytes: 0, pollMicros: 2000 }, 5000, 'grpc');
  try {
    const bufs = await Promise.all(r.comms.map((c) => c.allocateShared(5000)));
    assert.ok(bufs.every((b) => b.buffer.byteLength !== 8 << 20));
    await sumsExactly(r, 101_770);
    assert.deepEqual(
      r.comms.map((c) => c.stats.sharedPairOps),
      [0, 0],
    );
  } finally {
    await r.close();
  }
});

test('a ring is a pair candidate (both ranks hold the handshake) only with 2 ranks, both on this host, a file size, polling, no TLS; the setup names the peer', () => {
  const base: PairConditions = {
    ring: { job: 'j', generation: 3, rank: 1, worldSize: 2 },
    addresses: ['127.0.0.1:1000', '127.0.0.1:1001'],
    bytes: 1 << 20,
    pollMicros: 1500,
    ownCpus: true,
    tls: false,
    timeoutMs: 777,
    who: (r) => `rank ${r} here`,
    abortedIn: (g) => (g === 3 ? new Error('gone') : undefined),
  };
  const setup = sharedPairSetup(base);
  assert.ok(setup !== undefined);
  assert.deepEqual([setup.bytes, setup.spinMs, setup.timeoutMs, setup.peer], [1 << 20, 1.5, 777, 'rank 0 here']);
  assert.equal(setup.aborted()?.message, 'gone', "the setup asks about its own generation's abort");
  assert.equal(pairCandidate(base), true);
  const refused: [string, PairConditions][] = [
    ['TLS', { ...base, tls: true }],
    ['no file size', { ...base, bytes: 0 }],
    ['no polling', { ...base, pollMicros: 0 }],
    ['3 ranks', { ...base, ring: { ...base.ring, worldSize: 3 }, addresses: [...base.addresses, '127.0.0.1:1002'] }],
    ['the peer on another host', { ...base, addresses: ['127.0.0.1:1000', '192.0.2.7:1001'] }],
  ];
  for (const [why, c] of refused) {
    assert.equal(pairCandidate(c), false, why);
    assert.equal(sharedPairSetup(c), undefined, why);
  }
});

test("a ring counts the ranks on this host from their addresses (loopback and this host's own interfaces)", () => {
  assert.equal(sameHostRanks(['127.0.0.1:1', '127.0.0.1:2', '[::1]:3']), 3);
  assert.equal(
    sameHostRanks(['127.0.0.1:1', '192.0.2.7:2', '198.51.100.9:3']),
    1,
    'documentation-range addresses are not ours',
  );
  assert.equal(sameHostRanks([]), 0);
});

test('a rank polls only when every rank on its host can have a CPU, or when it is bound to CPUs of its own', () => {
  assert.ok(DEFAULT_JOB.cluster.pollMicros > 0, 'polling is on by default');
  assert.equal(pollsHere(2, 2, false), true, 'one CPU per rank');
  assert.equal(pollsHere(1, 8, false), true);
  assert.equal(pollsHere(3, 2, false), false, 'three ranks on two CPUs: off');
  assert.equal(pollsHere(2, 1, false), false, 'a launcher held to one CPU (taskset) starts its workers there');
  assert.equal(pollsHere(2, 1, true), true, 'bound workers (launch --cpu-bind cores) each have theirs');
});
