import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import {
  decodeChunk,
  decodePull,
  encodeChunk,
  encodeChunkHead,
  encodePull,
  readChunkHead,
  type ChunkHeader,
  type PullMessage,
} from '../../src/allreduce/chunk-codec';

const PROTO = path.resolve(__dirname, '../../../proto/ringtrain.proto');

const header: ChunkHeader = {
  job: 'mnist-mlp',
  generation: 3,
  opSeq: 70_000,
  bucket: 2,
  step: 1,
  chunk: 5,
  fromRank: 1,
  elements: 4,
  op: 'allreduce',
  block: 300,
  dtype: 'fp32',
};
const payload = new Uint8Array(Float32Array.from([1.5, -2, 0, 3e38]).buffer);

test('a chunk survives an encode/decode round trip, payload as a view', () => {
  const buf = encodeChunk(header, payload);
  const { header: h, payload: p } = decodeChunk(buf);
  assert.deepEqual(h, header);
  assert.deepEqual(new Uint8Array(p), payload);
  assert.equal(p.buffer, buf.buffer, 'the payload should be a slice of the message, not a copy');
});

test('the hand-written encoding is byte-identical to protobufjs for the proto message', async () => {
  const root = await protobuf.load(PROTO);
  const Chunk = root.lookupType('ringtrain.v1.ChunkMessage');
  const reference = Chunk.encode(Chunk.fromObject({ header, payload })).finish();
  assert.deepEqual(new Uint8Array(encodeChunk(header, payload)), new Uint8Array(reference));
  // And what protobufjs writes, we read.
  const other = { ...header, generation: 0, block: 0, dtype: 'bf16' as const };
  const { header: h } = decodeChunk(Buffer.from(Chunk.encode(Chunk.fromObject({ header: other, payload })).finish()));
  assert.deepEqual(h, other);
});

test('malformed messages are rejected with the reason', () => {
  const buf = encodeChunk(header, payload);
  assert.throws(() => decodeChunk(buf.subarray(0, buf.length - 3)), /runs past the end/);
  assert.throws(() => decodeChunk(Buffer.from([0x12, 0x01, 0x00])), /without a header/);
  assert.throws(() => decodeChunk(Buffer.from([0x0a, 0xff])), /truncated varint/);
});

test('a PullMessage (hello or refusal) is byte-identical to protobufjs and reads back, both ways', async () => {
  const root = await protobuf.load(PROTO);
  const Pull = root.lookupType('ringtrain.v1.PullMessage');
  // Every field set: the bytes must be identical (protobufjs writes explicitly set zero fields,
  // which protobuf encoders may omit, so the hello is compared by value below).
  const refusal: PullMessage = {
    job: 'mnist-mlp',
    generation: 300,
    fromRank: 2,
    refusal: 'rank 2 sent 6 float32 … expected 8',
    code: 3,
  };
  const reference = Pull.encode(Pull.fromObject(refusal)).finish();
  assert.deepEqual(new Uint8Array(encodePull(refusal)), new Uint8Array(reference));
  assert.deepEqual(decodePull(Buffer.from(reference)), refusal);
  const hello: PullMessage = { job: 'mnist-mlp', generation: 7, fromRank: 0, refusal: '', code: 0 };
  assert.deepEqual(decodePull(Buffer.from(Pull.encode(Pull.fromObject(hello)).finish())), hello);
  assert.deepEqual(Pull.toObject(Pull.decode(encodePull(hello)), { defaults: true, longs: Number }), hello);
  assert.throws(() => decodePull(Buffer.from([0x0a, 0x05, 0x61])), /runs past the end/);
});

test('encoding with room reserved at the front gives the same bytes after it, for any payload size', () => {
  for (const p of [payload, new Uint8Array(0), new Uint8Array(4000).map((_, i) => i % 251)]) {
    const h = { ...header, elements: p.length / 4 };
    const framed = encodeChunk(h, p, 5);
    assert.equal(framed.length, encodeChunk(h, p).length + 5);
    assert.deepEqual(new Uint8Array(framed.subarray(5)), new Uint8Array(encodeChunk(h, p)));
    assert.deepEqual(decodeChunk(framed.subarray(5)).header, h);
  }
});

test('a chunk sent as head + payload has encodeChunk bytes, and its head reads back from any prefix', () => {
  for (const p of [payload, new Uint8Array(0), new Uint8Array(300).fill(7)]) {
    const whole = encodeChunk(header, p);
    const head = encodeChunkHead(header, p.length, 5);
    assert.deepEqual(Buffer.concat([head.subarray(5), p]), whole);
    const headBytes = head.length - 5;
    // Too few bytes: asks for more, never guesses.
    for (let n = 0; n < headBytes; n++)
      assert.equal(readChunkHead(whole.subarray(0, n), whole.length), undefined, `prefix of ${n}`);
    for (const n of [headBytes, whole.length])
      assert.deepEqual(readChunkHead(whole.subarray(0, n), whole.length), { header, headBytes });
  }
});

test('a chunk head that is not header-then-payload, or whose lengths disagree, is refused', () => {
  const whole = encodeChunk(header, payload);
  // Payload first: valid protobuf, but not what ringtrain's senders write.
  const swapped = Buffer.concat([
    whole.subarray(whole.length - payload.length - 2),
    whole.subarray(0, whole.length - payload.length - 2),
  ]);
  assert.throws(() => readChunkHead(swapped, swapped.length), /does not start with its header/);
  assert.throws(() => readChunkHead(whole, whole.length + 4), /does not end the/);
  assert.throws(() => readChunkHead(whole.subarray(0, 10), 10), /ends inside its header/);
});
