import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import type * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import {
  CollectiveServer,
  Communicator,
  GrpcTransport,
  createRingEndpoint,
  type RingEndpoint,
  type TcpTransport,
  type Transport,
  type TransportKind,
} from '../../src/allreduce';
import { isRingtrainError } from '../../src/core/errors';
import { CHANNEL_OPTIONS, services } from '../../src/rpc/proto';
import { decodeChunk, encodePull } from '../../src/allreduce/chunk-codec';

interface Ring {
  comms: Communicator[];
  servers: CollectiveServer[];
  addresses: string[];
  close(): Promise<void>;
}

async function ring(world: number, timeoutMs = 5000, generation = 1): Promise<Ring> {
  const servers = Array.from({ length: world }, () => new CollectiveServer('job', timeoutMs));
  const ports = await Promise.all(servers.map((s) => s.listen('127.0.0.1', 0)));
  const addresses = ports.map((p) => `127.0.0.1:${p}`);
  const transports = servers.map(
    (s, rank) => new GrpcTransport({ job: 'job', generation, rank, worldSize: world }, s, addresses),
  );
  return {
    comms: transports.map((t) => new Communicator(t)),
    servers,
    addresses,
    async close() {
      await Promise.all(transports.map((t) => t.close()));
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}

/** A ring of real endpoints on 127.0.0.1 for either transport, as workers build it; tcp+shm is tcp with its shared-memory path. */
async function endpointRing(
  kind: TransportKind | 'tcp+shm',
  world: number,
  timeoutMs = 5000,
  generations?: number[],
  algorithm: 'auto' | 'ring' = 'auto',
): Promise<{ comms: Communicator[]; transports: Transport[]; endpoints: RingEndpoint[]; close(): Promise<void> }> {
  const endpoints = Array.from({ length: world }, () =>
    kind === 'tcp+shm'
      ? createRingEndpoint('tcp', 'job', timeoutMs, { sharedMemoryBytes: 16 << 20 })
      : createRingEndpoint(kind, 'job', timeoutMs),
  );
  const ports = await Promise.all(endpoints.map((e) => e.listen('127.0.0.1', 0)));
  const addresses = ports.map((p) => `127.0.0.1:${p}`);
  const attached = await Promise.allSettled(
    endpoints.map((e, rank) =>
      e.attach({ job: 'job', generation: generations?.[rank] ?? 1, rank, worldSize: world }, addresses),
    ),
  );
  const transports = attached
    .map((a) => (a.status === 'fulfilled' ? a.value : undefined))
    .filter((t): t is Transport => t !== undefined);
  const close = async (): Promise<void> => {
    await Promise.all(endpoints.map((e) => e.close()));
  };
  if (transports.length !== world) {
    await close();
    throw (attached.find((a) => a.status === 'rejected') as PromiseRejectedResult).reason;
  }
  return {
    comms: transports.map((t) => new Communicator(t, { blockElements: 100_000, algorithm })),
    transports,
    endpoints,
    close,
  };
}

for (const kind of ['grpc', 'tcp', 'tcp+shm'] as const) {
  // Two ranks: the one-round pair exchange (auto, for these sizes) and the ring itself.
  for (const [world, algorithm] of [
    [2, 'auto'],
    [2, 'ring'],
    [3, 'auto'],
    [4, 'auto'],
  ] as const) {
    test(`all-reduce (${algorithm}) over real ${kind} on 127.0.0.1 sums exactly for ${world} ranks`, async () => {
      const r = await endpointRing(kind, world, 5000, undefined, algorithm);
      try {
        for (const length of [1, world - 1, world + 1, 101_770, 1_000_003]) {
          const bufs = r.comms.map((_, rank) => Float32Array.from({ length }, (_, i) => ((i % 97) - 48) * 0.25 + rank));
          await Promise.all(r.comms.map((c, rank) => c.allReduceSum(bufs[rank] as Float32Array)));
          const rankSum = (world * (world - 1)) / 2;
          for (const b of bufs) {
            for (let i = 0; i < length; i++) {
              const expected = world * (((i % 97) - 48) * 0.25) + rankSum;
              if (Math.abs((b[i] as number) - expected) >= 1e-4)
                assert.fail(`${kind} length ${length} element ${i}: ${b[i]} vs ${expected}`);
            }
          }
        }
        const w = r.comms.map((_, rank) => new Float32Array(5).fill(rank === 0 ? 7 : 0));
        await Promise.all(r.comms.map((c, rank) => c.broadcast(w[rank] as Float32Array)));
        for (const b of w) assert.deepEqual(Array.from(b), [7, 7, 7, 7, 7]);
        await Promise.all(r.comms.map((c) => c.barrier()));
      } finally {
        await r.close();
      }
    });
  }
}

test('tcp: a ring connection from another generation is refused, naming both generations', async () => {
  await assert.rejects(
    endpointRing('tcp', 2, 2000, [4, 5]),
    (e: unknown) =>
      isRingtrainError(e) &&
      /generation 4, this ring is generation 5|generation 5, this ring is generation 4/.test(e.message),
  );
});

test('tcp: a chunk of the wrong size is refused with a message naming both sizes, on both sides', async () => {
  const r = await endpointRing('tcp', 2, 2000);
  try {
    const key = { op: 'allreduce' as const, opSeq: 1, bucket: 0, step: 0, chunk: 0, block: 0 };
    r.transports[1]!.beginOp(1);
    const recv = r.transports[1]!.recv(0, key, new Uint8Array(32), { elements: 8, dtype: 'fp32' });
    recv.catch(() => undefined);
    await assert.rejects(
      r.transports[0]!.send(1, key, new Uint8Array(24), { elements: 6, dtype: 'fp32' }),
      (e: unknown) =>
        isRingtrainError(e) &&
        e.code === 'SIZE_MISMATCH' &&
        /rank 1 at 127\.0\.0\.1:\d+ refused .*sent 6 float32 .* expected 8/.test(e.message),
    );
    await assert.rejects(recv, /expected 8/);
  } finally {
    await r.close();
  }
});

for (const kind of ['grpc', 'tcp'] as const) {
  test(`${kind}: a peer that dies makes the survivor fail at once, naming it`, async () => {
    const r = await endpointRing(kind, 2, 10_000);
    try {
      await r.endpoints[1]!.close();
      const started = Date.now();
      await assert.rejects(r.comms[0]!.allReduceSum(new Float32Array(1000)), (e: unknown) =>
        /rank 1 at 127\.0\.0\.1:\d+/.test((e as Error).message),
      );
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    } finally {
      await r.close();
    }
  });
}

test('tcp: blocks lent to a peer that stopped reading fail flush at the deadline, naming the peer', async () => {
  const r = await endpointRing('tcp', 2, 1500);
  try {
    // As a SIGSTOPped peer would: rank 1 stops reading its ring socket, so rank 0's writes queue.
    (r.transports[1] as unknown as { recvSocket: net.Socket }).recvSocket.pause();
    const payload = new Uint8Array(32 << 20);
    const key = { op: 'allreduce' as const, opSeq: 1, bucket: 0, step: 0, chunk: 0, block: 0 };
    r.transports[0]!.send(1, key, payload, { elements: payload.length / 4, dtype: 'fp32' }, true).catch(
      () => undefined,
    );
    const started = Date.now();
    await assert.rejects(
      r.transports[0]!.flush!(),
      (e: unknown) =>
        isRingtrainError(e) &&
        e.code === 'TIMEOUT' &&
        /rank 1 at 127\.0\.0\.1:\d+ did not read 1 sent block\(s\) within 1500 ms/.test(e.message),
    );
    assert.ok(Date.now() - started < 5000);
  } finally {
    await r.close();
  }
});

test('grpc: a pulled chunk of the wrong size fails the receiver, and its refusal comes back up the stream to fail the sender', async () => {
  const r = await endpointRing('grpc', 2, 3000);
  try {
    const key = { op: 'allreduce' as const, opSeq: 1, bucket: 0, step: 0, chunk: 0, block: 0 };
    r.transports[1]!.beginOp(1);
    r.transports[0]!.beginOp(1);
    const recv = r.transports[1]!.recv(0, key, new Uint8Array(32), { elements: 8, dtype: 'fp32' });
    recv.catch(() => undefined);
    // The sender's own collective, still waiting for its predecessor when the refusal arrives.
    const senderWaits = r.transports[0]!.recv(1, { ...key, step: 1 }, new Uint8Array(32), {
      elements: 8,
      dtype: 'fp32',
    });
    senderWaits.catch(() => undefined);
    const started = Date.now();
    await r.transports[0]!.send(1, key, new Uint8Array(24), { elements: 6, dtype: 'fp32' });
    await assert.rejects(
      recv,
      (e: unknown) =>
        isRingtrainError(e) && e.code === 'SIZE_MISMATCH' && /rank 0 sent 6 float32 .* expected 8/.test(e.message),
    );
    await assert.rejects(
      senderWaits,
      (e: unknown) =>
        isRingtrainError(e) &&
        e.code === 'SIZE_MISMATCH' &&
        /rank 1 at 127\.0\.0\.1:\d+ refused a chunk of generation 1: .*sent 6 float32 .* expected 8/.test(e.message),
    );
    assert.ok(Date.now() - started < 2500, `the refusal took ${Date.now() - started} ms, longer than the deadline`);
  } finally {
    await r.close();
  }
});

test('grpc: a send to a rank that never opens its pull stream fails at the deadline, naming that rank', async () => {
  const servers = [new CollectiveServer('job', 800), new CollectiveServer('job', 800)];
  const ports = await Promise.all(servers.map((s) => s.listen('127.0.0.1', 0)));
  const addresses = ports.map((p) => `127.0.0.1:${p}`);
  // Only rank 0 attaches; rank 1 (which would pull from rank 0) never does.
  const t0 = new GrpcTransport({ job: 'job', generation: 1, rank: 0, worldSize: 2 }, servers[0]!, addresses);
  try {
    const key = { op: 'allreduce' as const, opSeq: 1, bucket: 0, step: 0, chunk: 0, block: 0 };
    await assert.rejects(
      t0.send(1, key, new Uint8Array(4), { elements: 1, dtype: 'fp32' }),
      (e: unknown) =>
        isRingtrainError(e) &&
        e.code === 'TIMEOUT' &&
        /rank 1 at 127\.0\.0\.1:\d+ did not open its pull stream for generation 1 within 800 ms/.test(e.message),
    );
  } finally {
    await t0.close();
    await Promise.all(servers.map((s) => s.close()));
  }
});

test('grpc: a pull stream without the join token is refused UNAUTHENTICATED and counted', async () => {
  const refused: string[] = [];
  const server = new CollectiveServer('job', 2000, 'secret', (reason) => refused.push(reason));
  const port = await server.listen('127.0.0.1', 0);
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  try {
    const call = client.makeBidiStreamRequest(
      '/ringtrain.v1.Collective/Pull',
      (b: Buffer) => b,
      (b: Buffer) => b,
      new grpc.Metadata(),
      {},
    );
    const status = await new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    assert.equal(status.code, grpc.status.UNAUTHENTICATED);
    assert.match(status.details, /missing join token/);
    assert.equal(refused.length, 1);
  } finally {
    client.close();
    await server.close();
  }
});

test('grpc: the Collective service speaks gRPC: a grpc-js client pulls a chunk and reads it with the proto', async () => {
  const server = new CollectiveServer('job', 2000, 'secret');
  const port = await server.listen('127.0.0.1', 0);
  // One rank that only sends: rank 1 is the grpc-js client below, which opens no server of its own.
  const t = new GrpcTransport({ job: 'job', generation: 1, rank: 0, worldSize: 1 }, server, [`127.0.0.1:${port}`]);
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  try {
    const metadata = new grpc.Metadata();
    metadata.set('x-ringtrain-token', 'secret');
    const call = client.makeBidiStreamRequest(
      '/ringtrain.v1.Collective/Pull',
      (b: Buffer) => b,
      (b: Buffer) => b,
      metadata,
      {},
    );
    const received = new Promise<Buffer>((resolve, reject) => {
      call.on('data', resolve);
      call.on('error', reject);
    });
    call.write(encodePull({ job: 'job', generation: 1, fromRank: 1, refusal: '', code: 0 }));
    const values = Float32Array.from({ length: 50_000 }, (_, i) => i * 0.5 - 7);
    const key = { op: 'allreduce' as const, opSeq: 3, bucket: 0, step: 1, chunk: 0, block: 2 };
    // Lent: written from `values` itself behind its head, as a gradient block is.
    await t.send(1, key, new Uint8Array(values.buffer), { elements: values.length, dtype: 'fp32' }, true);
    await t.flush();
    const { header, payload } = decodeChunk(await received);
    assert.deepEqual(header, { job: 'job', generation: 1, fromRank: 0, elements: 50_000, dtype: 'fp32', ...key });
    assert.deepEqual(
      new Float32Array(payload.buffer.slice(payload.byteOffset, payload.byteOffset + payload.byteLength)),
      values,
    );
    call.cancel();
  } finally {
    client.close();
    await t.close();
    await server.close();
  }
});

/** Sends one hand-made chunk straight to a server, as a misbehaving peer would. */
function rawSend(address: string, header: Record<string, unknown>, payload: Buffer): Promise<grpc.ServiceError | null> {
  const client = new (services().collective)(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  return new Promise((resolve) => {
    (
      client as unknown as { Send: (r: object, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => void }
    ).Send({ header, payload }, { deadline: Date.now() + 3000 }, (err) => {
      client.close();
      resolve(err);
    });
  });
}

test('a gRPC chunk of the wrong generation is refused with FAILED_PRECONDITION saying what was expected', async () => {
  const r = await ring(2, 2000, 5);
  try {
    const err = await rawSend(
      r.addresses[1]!,
      { job: 'job', generation: 4, opSeq: 1, bucket: 0, step: 0, chunk: 0, fromRank: 0, elements: 1, op: 'allreduce' },
      Buffer.alloc(4),
    );
    assert.equal(err?.code, grpc.status.FAILED_PRECONDITION);
    assert.match(err?.details ?? '', /generation 4, this ring is generation 5/);
  } finally {
    await r.close();
  }
});

test('a gRPC chunk of the wrong size is refused with INVALID_ARGUMENT naming both sizes', async () => {
  const r = await ring(2, 2000);
  try {
    r.comms[1]!.transport.beginOp(1);
    const recv = r.comms[1]!.transport.recv(
      0,
      { op: 'allreduce', opSeq: 1, bucket: 0, step: 0, chunk: 0, block: 0 },
      new Uint8Array(32),
      { elements: 8, dtype: 'fp32' },
    );
    recv.catch(() => undefined);
    const err = await rawSend(
      r.addresses[1]!,
      { job: 'job', generation: 1, opSeq: 1, bucket: 0, step: 0, chunk: 0, fromRank: 0, elements: 6, op: 'allreduce' },
      Buffer.alloc(24),
    );
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err?.details ?? '', /sent 6 float32 .* expected 8/);
    await assert.rejects(recv, /expected 8/);
    const lying = await rawSend(
      r.addresses[1]!,
      { job: 'job', generation: 1, opSeq: 1, bucket: 0, step: 0, chunk: 1, fromRank: 0, elements: 6, op: 'allreduce' },
      Buffer.alloc(20),
    );
    assert.equal(lying?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(lying?.details ?? '', /declares 6 fp32 elements but carries 20 bytes/);
  } finally {
    await r.close();
  }
});

test('a peer that is down makes the sender fail within the deadline, naming its rank and address', async () => {
  const r = await ring(2, 1500);
  await r.servers[1]!.close();
  try {
    const started = Date.now();
    await assert.rejects(r.comms[0]!.allReduceSum(new Float32Array(4)), (e: unknown) =>
      /rank 1/.test((e as Error).message),
    );
    assert.ok(Date.now() - started < 10_000);
  } finally {
    await r.close();
  }
});

for (const kind of ['grpc', 'tcp', 'tcp+shm'] as const) {
  test(`${kind}: survivors re-attach as a smaller ring of the next generation and sum correctly`, async () => {
    // tcp+shm: the new ring offers and maps new segments; 20,000 floats are big enough to use them.
    const shared: { to: number; shared: boolean }[][] = [[], [], []];
    const endpoints = Array.from({ length: 3 }, (_, i) =>
      kind === 'tcp+shm'
        ? createRingEndpoint('tcp', 'job', 5000, {
            sharedMemoryBytes: 1 << 20,
            onNote: (_n, link) => shared[i]!.push(link),
          })
        : createRingEndpoint(kind, 'job', 5000),
    );
    try {
      const ports = await Promise.all(endpoints.map((e) => e.listen('127.0.0.1', 0)));
      const addrs = ports.map((p) => `127.0.0.1:${p}`);
      const gen1 = await Promise.all(
        endpoints.map((e, rank) => e.attach({ job: 'job', generation: 1, rank, worldSize: 3 }, addrs)),
      );
      const bufs1 = gen1.map(() => new Float32Array(20_000).fill(1));
      await Promise.all(gen1.map((t, r) => new Communicator(t).allReduceSum(bufs1[r] as Float32Array)));
      assert.deepEqual(Array.from(new Set(bufs1[0]!)), [3]);
      await endpoints[1]!.close();
      // Rank 0 attaches (and dials) well before the other survivor: its HELLO must wait, not fail.
      const first = endpoints[0]!.attach({ job: 'job', generation: 2, rank: 0, worldSize: 2 }, [addrs[0]!, addrs[2]!]);
      await new Promise((r) => setTimeout(r, 300));
      const second = endpoints[2]!.attach({ job: 'job', generation: 2, rank: 1, worldSize: 2 }, [addrs[0]!, addrs[2]!]);
      const gen2 = await Promise.all([first, second]);
      if (kind === 'tcp+shm') {
        for (let i = 0; i < 200 && (shared[0]!.length < 2 || shared[2]!.length < 2); i++)
          await new Promise((r) => setTimeout(r, 10));
        // Generation 1: rank 0 sent to rank 1 and rank 2 to rank 0; generation 2: each to the other.
        assert.deepEqual(shared[0], [
          { to: 1, shared: true },
          { to: 1, shared: true },
        ]);
        assert.deepEqual(shared[2], [
          { to: 0, shared: true },
          { to: 0, shared: true },
        ]);
        assert.deepEqual(
          gen2.map((t) => (t as TcpTransport).sharedMemory),
          [
            { to: [1], from: true },
            { to: [0], from: true },
          ],
        );
      }
      const bufs2 = [new Float32Array(20_001).fill(2), new Float32Array(20_001).fill(5)];
      await Promise.all(gen2.map((t, r) => new Communicator(t).allReduceSum(bufs2[r] as Float32Array)));
      for (const b of bufs2) assert.deepEqual(Array.from(new Set(b)), [7]);
    } finally {
      await Promise.all(endpoints.map((e) => e.close()));
    }
  });
}
