import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { decodeChunk, encodeChunk, type ChunkHeader } from '../../src/allreduce/chunk-codec';

const PROTO = path.resolve(__dirname, '../../../proto/ringtrain.proto');

const header: ChunkHeader = {
  job: 'mnist-mlp', generation: 3, opSeq: 70_000, bucket: 2, step: 1, chunk: 5, fromRank: 1, elements: 4, op: 'allreduce', block: 300, dtype: 'fp32',
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
