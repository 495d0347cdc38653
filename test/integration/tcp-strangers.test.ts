/**
 * Strangers on a tcp ring port: until a connection has said a HELLO that proves the join token,
 * nothing it sends may touch the ring. Garbage, forged ACKs and oversized HELLOs are dropped with
 * the connection and counted, and the ring's collectives go on.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { Communicator, createRingEndpoint, type RingEndpoint } from '../../src/allreduce';
import { FrameType, HEADER_BYTES, controlFrame, writeHeader } from '../../src/allreduce/tcp-frame';

const TOKEN = 'ring-secret';

/** Connects to `port`, writes `bytes`, and resolves once the far end has closed the connection. */
function strangerSends(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write(bytes));
    const done = (): void => {
      s.destroy();
      resolve();
    };
    s.on('error', done);
    s.on('close', done);
    s.on('data', () => undefined);
    // Bounded: a port that keeps a stranger's connection open fails the test below, not this wait.
    setTimeout(done, 3000).unref();
  });
}

function forgedHeader(type: FrameType, length: number, msgId = 1): Buffer {
  const buf = Buffer.alloc(HEADER_BYTES);
  writeHeader(buf, {
    type,
    dtype: 'fp32',
    op: 'allreduce',
    nackCode: 'PEER_REFUSED',
    generation: 1,
    key: { opSeq: 1, bucket: 0, step: 0, chunk: 0, block: 0 },
    fromRank: 0,
    elements: 0,
    msgId,
    length,
  });
  return buf;
}

async function tokenRing(
  refusals: string[],
): Promise<{ endpoints: RingEndpoint[]; comms: Communicator[]; ports: number[] }> {
  const endpoints = [0, 1].map(() =>
    createRingEndpoint('tcp', 'job', 4000, { token: TOKEN, onRefused: (r) => refusals.push(r) }),
  );
  const ports = await Promise.all(endpoints.map((e) => e.listen('127.0.0.1', 0)));
  const addresses = ports.map((p) => `127.0.0.1:${p}`);
  const transports = await Promise.all(
    endpoints.map((e, rank) => e.attach({ job: 'job', generation: 1, rank, worldSize: 2 }, addresses)),
  );
  return { endpoints, comms: transports.map((t) => new Communicator(t)), ports };
}

async function sumsExactly(comms: Communicator[]): Promise<void> {
  const bufs = comms.map((_, rank) => Float32Array.from({ length: 1000 }, (_, i) => i + rank));
  await Promise.all(comms.map((c, rank) => c.allReduceSum(bufs[rank] as Float32Array)));
  for (const b of bufs) assert.deepEqual([b[0], b[999]], [1, 1999]);
}

test('tcp: garbage, forged frames and oversized HELLOs from a connection without the token are dropped and counted; the ring sums on', async () => {
  const refusals: string[] = [];
  const r = await tokenRing(refusals);
  try {
    await sumsExactly(r.comms);
    for (const port of r.ports) {
      await strangerSends(port, randomBytes(4096));
      // A well-formed ACK for a message id the ring uses: before a HELLO it must settle nothing.
      await strangerSends(port, forgedHeader(FrameType.Ack, 0, 1));
      // A HELLO claiming 4 GB of body: refused on its header, before anything is allocated.
      await strangerSends(port, forgedHeader(FrameType.Hello, 0xfffffff0));
      // A HELLO of a later generation without the token: refused at once, not held for later.
      await strangerSends(port, controlFrame(FrameType.Hello, { generation: 9, fromRank: 1 }, 'job\nnot-the-token'));
    }
    await sumsExactly(r.comms);
    await Promise.all(r.comms.map((c) => c.barrier()));
    const before = refusals.filter((x) =>
      /before its HELLO|HELLO of \d+ bytes|wrong join token|bad frame magic/.test(x),
    );
    assert.equal(before.length, 8, `refusals: ${refusals.join(' | ')}`);
    assert.ok(
      refusals.some((x) => /bad frame magic/.test(x)),
      refusals.join(' | '),
    );
  } finally {
    await Promise.all(r.endpoints.map((e) => e.close()));
  }
});

test('tcp: garbage sent while a collective is under way does not fail it', async () => {
  const refusals: string[] = [];
  const r = await tokenRing(refusals);
  try {
    const big = r.comms.map((_, rank) => new Float32Array(2_000_000).fill(rank + 1));
    const sums = Promise.all(r.comms.map((c, rank) => c.allReduceSum(big[rank] as Float32Array)));
    await Promise.all(r.ports.map((p) => strangerSends(p, randomBytes(65536))));
    await sums;
    for (const b of big) assert.deepEqual([b[0], b[1_999_999]], [3, 3]);
    assert.ok(refusals.length >= 2, refusals.join(' | '));
  } finally {
    await Promise.all(r.endpoints.map((e) => e.close()));
  }
});
