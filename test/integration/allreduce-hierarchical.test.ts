import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { Communicator, createRingEndpoint, type RingEndpoint, type WireDtype } from '../../src/allreduce';
import { hierarchyFits, hostGroups } from '../../src/allreduce/host-groups';
import { nativeSharedMemory } from '../../src/native';

// The host pairs sum through shared files: that needs the native addon (CI builds it).
const skip = nativeSharedMemory().shm === undefined ? `no native addon: ${nativeSharedMemory().why ?? ''}` : false;

const ownFiles = (): string[] =>
  fs.existsSync('/dev/shm') ? fs.readdirSync('/dev/shm').filter((f) => f.startsWith(`ringtrain-${process.pid}-`)) : [];

interface Ring {
  comms: Communicator[];
  notes: string[][];
  close(): Promise<void>;
}

/**
 * gRPC ranks bound to the loopback addresses in `hosts` (127.0.0.1, 127.0.0.2, ...: one kernel,
 * but as many hosts as the ring's addresses name, which is all a rank knows of where others run).
 */
async function ring(hosts: string[], hierarchy: 'auto' | 'flat', dtype: WireDtype = 'fp32'): Promise<Ring> {
  const notes: string[][] = hosts.map(() => []);
  const endpoints: RingEndpoint[] = hosts.map(() =>
    createRingEndpoint('grpc', 'job', 20_000, { sharedMemoryBytes: 8 << 20, pollMicros: 100 }),
  );
  const ports = await Promise.all(endpoints.map((e, r) => e.listen(hosts[r] as string, 0)));
  const addresses = ports.map((p, r) => `${hosts[r] as string}:${p}`);
  const transports = await Promise.all(
    endpoints.map((e, rank) => e.attach({ job: 'job', generation: 1, rank, worldSize: hosts.length }, addresses)),
  );
  return {
    comms: transports.map(
      (t, r) => new Communicator(t, { hierarchy, dtype, blockElements: 30_000, onNote: (n) => notes[r]?.push(n) }),
    ),
    notes,
    close: async () => {
      await Promise.all(endpoints.map((e) => e.close()));
    },
  };
}

/** Deterministic gradients of rank `rank`, step `step`: values of mixed sign and magnitude. */
function grads(rank: number, step: number, n: number): Float32Array {
  let seed = 1 + rank * 7919 + step * 104_729;
  return Float32Array.from({ length: n }, () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return ((seed / 2 ** 31) * 2 - 1) * 10 ** ((seed % 5) - 2);
  });
}

/** Three means of every rank's gradients (101,770 floats: the MLP's), on every rank. */
async function means(r: Ring, n = 101_770): Promise<Float32Array[][]> {
  const out: Float32Array[][] = [];
  for (let step = 0; step < 3; step++) {
    const bufs = r.comms.map((c, rank) => {
      const b = c.allocate(n);
      b.set(grads(rank, step, n));
      return b;
    });
    await Promise.all(r.comms.map((c, rank) => c.allReduceMean(bufs[rank] as Float32Array)));
    out.push(bufs);
  }
  return out;
}

/**
 * Two float32 means of the same N addends in different orders differ by at most about N
 * roundings of the largest partial sum, bounded here by the sum of the addends' magnitudes.
 */
function assertClose(a: Float32Array, b: Float32Array, addends: Float32Array[], what: string): void {
  const n = addends.length;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    const magnitude = addends.reduce((s, g) => s + Math.abs(g[i] as number), 0) / n;
    if (Math.abs(x - y) > n * 2 ** -23 * magnitude)
      assert.fail(`${what}: element ${i} is ${x}, the flat ring's ${y} (addends' magnitude ${magnitude})`);
  }
}

const LAYOUTS: [string, string[]][] = [
  ['2 hosts x 2 ranks, ranks host by host', ['127.0.0.1', '127.0.0.1', '127.0.0.2', '127.0.0.2']],
  ['2 hosts x 2 ranks, ranks interleaved', ['127.0.0.1', '127.0.0.2', '127.0.0.1', '127.0.0.2']],
  ['3 hosts of 2, 1 and 2 ranks', ['127.0.0.1', '127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.3']],
];

for (const [name, hosts] of LAYOUTS) {
  test(
    `hierarchical all-reduce, ${name}: every replica bit-identical, equal to a flat ring's mean to float rounding, only one rank per host on the wire`,
    { skip, timeout: 120_000 },
    async () => {
      const flat = await ring(hosts, 'flat');
      let want: Float32Array[][];
      try {
        want = await means(flat);
        assert.ok(
          flat.comms.every((c) => c.stats.bytesSent > 0),
          'on a flat ring every rank sends',
        );
        assert.ok(
          flat.notes.every((n) => n.length === 0),
          flat.notes.flat().join('\n'),
        );
      } finally {
        await flat.close();
      }
      const h = await ring(hosts, 'auto');
      try {
        const got = await means(h);
        const groups = hostGroups(hosts);
        for (let step = 0; step < got.length; step++) {
          const bufs = got[step] as Float32Array[];
          for (let rank = 1; rank < bufs.length; rank++)
            assert.deepEqual(bufs[rank], bufs[0], `step ${step}: rank ${rank} vs rank 0`);
          const addends = hosts.map((_, rank) => grads(rank, step, bufs[0]?.length ?? 0));
          assertClose(
            bufs[0] as Float32Array,
            (want[step] as Float32Array[])[0] as Float32Array,
            addends,
            `step ${step}`,
          );
        }
        const leaders = new Set(groups.map((g) => g[0]));
        h.comms.forEach((c, rank) =>
          assert.equal(
            c.stats.bytesSent > 0,
            leaders.has(rank),
            `rank ${rank} sends on the wire only if it leads its host`,
          ),
        );
        for (const n of h.notes)
          assert.deepEqual(n, [
            `all-reduces sum through a shared file on each host, then between one rank per host (${groups.length} hosts)`,
          ]);
        assert.deepEqual(ownFiles(), [], 'the files are unlinked once mapped');
        assert.ok(
          h.comms.every((c) => c.overlapped(new Float32Array(8)) === undefined),
          'a hierarchy is not overlapped with backward',
        );
      } finally {
        await h.close();
      }
    },
  );
}

test(
  'hierarchical all-reduce with fp16 between hosts: replicas bit-identical, within fp16 rounding of the exact mean',
  { skip, timeout: 60_000 },
  async () => {
    const hosts = ['127.0.0.1', '127.0.0.1', '127.0.0.2', '127.0.0.2'];
    const r = await ring(hosts, 'auto', 'fp16');
    try {
      const n = 20_000;
      const bufs = r.comms.map((c, rank) => {
        const b = c.allocate(n);
        b.set(grads(rank, 0, n).map((v) => v / 100 + 0.5));
        return b;
      });
      const exact = new Float64Array(n);
      for (let rank = 0; rank < 4; rank++) bufs[rank]?.forEach((v, i) => (exact[i] = (exact[i] as number) + v / 4));
      await Promise.all(r.comms.map((c, rank) => c.allReduceMean(bufs[rank] as Float32Array)));
      for (let rank = 1; rank < 4; rank++) assert.deepEqual(bufs[rank], bufs[0], `rank ${rank} vs rank 0`);
      bufs[0]?.forEach((v, i) =>
        assert.ok(Math.abs(v - (exact[i] as number)) < 2e-3, `element ${i}: ${v} vs ${exact[i]}`),
      );
    } finally {
      await r.close();
    }
  },
);

test('a hierarchy is built only for several hosts with two ranks on some and none with more', () => {
  assert.deepEqual(hostGroups(['a', 'b', 'a', 'c', 'b']), [[0, 2], [1, 4], [3]]);
  assert.equal(hierarchyFits(hostGroups(['a', 'a', 'b', 'b'])), true);
  assert.equal(hierarchyFits(hostGroups(['a', 'a', 'b'])), true);
  assert.equal(
    hierarchyFits(hostGroups(['a', 'a', 'a', 'a'])),
    false,
    'one host: the same-host paths already serve it',
  );
  assert.equal(hierarchyFits(hostGroups(['a', 'b', 'c'])), false, 'one rank per host: nothing to sum locally');
  assert.equal(
    hierarchyFits(hostGroups(['a', 'a', 'a', 'b', 'b'])),
    false,
    'three ranks on a host: the file joins two',
  );
});
