import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Mailbox } from '../../src/allreduce';
import { isRingtrainError } from '../../src/core/errors';

const key = { op: 'allreduce' as const, opSeq: 3, bucket: 0, step: 0, chunk: 1, block: 0 };
const f32 = (n: number) => ({ elements: n, dtype: 'fp32' as const });
const out = (n: number): Uint8Array => new Uint8Array(n * 4);
const bytesOf = (a: number[]): Uint8Array => new Uint8Array(Float32Array.from(a).buffer);

function box(): Mailbox {
  const m = new Mailbox('job-a', 500);
  m.setIdentity({ job: 'job-a', generation: 2, rank: 1, worldSize: 3 });
  m.beginOp(3);
  return m;
}

test('a chunk that arrives before its receive is parked and then delivered', async () => {
  const m = box();
  const sent = m.deliver({
    job: 'job-a',
    generation: 2,
    fromRank: 0,
    key,
    elements: 2,
    dtype: 'fp32',
    bytes: bytesOf([1.5, -2]),
  });
  const inbox = out(2);
  await m.expect(0, key, inbox, f32(2));
  await sent;
  assert.deepEqual(Array.from(new Float32Array(inbox.buffer)), [1.5, -2]);
});

test('rejects a chunk from an older generation, naming both generations', async () => {
  await assert.rejects(
    box().deliver({ job: 'job-a', generation: 1, fromRank: 0, key, elements: 1, dtype: 'fp32', bytes: bytesOf([1]) }),
    (e: unknown) =>
      isRingtrainError(e) && e.code === 'STALE_GENERATION' && /generation 1.*generation 2/.test(e.message),
  );
});

test('rejects a chunk of another job', async () => {
  await assert.rejects(
    box().deliver({ job: 'job-b', generation: 2, fromRank: 0, key, elements: 1, dtype: 'fp32', bytes: bytesOf([1]) }),
    /job 'job-b'/,
  );
});

test('rejects a chunk for a collective this rank has already finished', async () => {
  await assert.rejects(
    box().deliver({
      job: 'job-a',
      generation: 2,
      fromRank: 0,
      key: { ...key, opSeq: 2 },
      elements: 1,
      dtype: 'fp32',
      bytes: bytesOf([1]),
    }),
    /stale/,
  );
});

test('rejects a chunk whose size differs from the posted receive, on both sides', async () => {
  const m = box();
  const recv = m.expect(0, key, out(4), f32(4));
  const sent = m.deliver({
    job: 'job-a',
    generation: 2,
    fromRank: 0,
    key,
    elements: 3,
    dtype: 'fp32',
    bytes: bytesOf([1, 2, 3]),
  });
  await assert.rejects(sent, /sent 3 float32.*expected 4/);
  await assert.rejects(recv, /sent 3 float32.*expected 4/);
});

test('a posted receive times out naming the silent peer', async () => {
  await assert.rejects(
    box().expect(2, key, out(1), f32(1)),
    (e: unknown) =>
      isRingtrainError(e) && e.code === 'TIMEOUT' && /rank 2/.test(e.message) && /generation 2/.test(e.message),
  );
});

test('rejects a chunk whose wire encoding differs from the receiver', async () => {
  const m = box();
  const recv = m.expect(0, key, new Uint8Array(4), { elements: 2, dtype: 'fp16' });
  const sent = m.deliver({
    job: 'job-a',
    generation: 2,
    fromRank: 0,
    key,
    elements: 1,
    dtype: 'fp32',
    bytes: bytesOf([1]),
  });
  await assert.rejects(sent, /sends fp32 on the wire, rank 1 expects fp16/);
  await assert.rejects(recv, /same compression/);
});

test('the first arrival of each collective is kept until asked for, once, and older ones go with it', async () => {
  const m = box();
  const before = process.hrtime.bigint();
  assert.equal(m.takeFirstArrival(3), undefined, 'nothing arrived yet');
  const first = m.deliver({
    job: 'job-a',
    generation: 2,
    fromRank: 0,
    key,
    elements: 1,
    dtype: 'fp32',
    bytes: bytesOf([1]),
  });
  const afterFirst = process.hrtime.bigint();
  // A later message of the same collective does not move its first arrival.
  const second = m.deliver({
    job: 'job-a',
    generation: 2,
    fromRank: 0,
    key: { ...key, block: 1 },
    elements: 1,
    dtype: 'fp32',
    bytes: bytesOf([2]),
  });
  // The neighbour is a collective ahead: its message is remembered for collective 4.
  const ahead = m.deliver({
    job: 'job-a',
    generation: 2,
    fromRank: 0,
    key: { ...key, opSeq: 4 },
    elements: 1,
    dtype: 'fp32',
    bytes: bytesOf([3]),
  });
  // A refused message (another job) is no arrival.
  await assert.rejects(
    m.deliver({
      job: 'job-b',
      generation: 2,
      fromRank: 0,
      key: { ...key, opSeq: 5 },
      elements: 1,
      dtype: 'fp32',
      bytes: bytesOf([1]),
    }),
  );
  const at = m.takeFirstArrival(3);
  assert.ok(
    at !== undefined && at >= before && at <= afterFirst,
    `first arrival ${at} outside [${before}, ${afterFirst}]`,
  );
  assert.equal(m.takeFirstArrival(3), undefined, 'taken once');
  assert.ok((m.takeFirstArrival(4) as bigint) >= afterFirst);
  assert.equal(m.takeFirstArrival(5), undefined);
  await Promise.all([
    m.expect(0, key, out(1), f32(1)),
    m.expect(0, { ...key, block: 1 }, out(1), f32(1)),
    first,
    second,
  ]);
  m.beginOp(4);
  await Promise.all([m.expect(0, { ...key, opSeq: 4 }, out(1), f32(1)), ahead]);
});
