import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { FrameReader, FrameType, HEADER_BYTES, writeHeader, type Frame } from '../../src/allreduce/tcp-frame';

function dataFrame(msgId: number, payload: Uint8Array): Buffer {
  const buf = Buffer.alloc(HEADER_BYTES + payload.byteLength);
  writeHeader(buf, {
    type: FrameType.Data,
    dtype: 'fp32',
    op: 'allreduce',
    nackCode: 'PEER_REFUSED',
    generation: 2,
    key: { opSeq: 9, bucket: 0, step: 1, chunk: 1, block: msgId },
    fromRank: 1,
    elements: payload.byteLength / 4,
    msgId,
    length: payload.byteLength,
  });
  buf.set(payload, HEADER_BYTES);
  return buf;
}

/** Plays `wire` into the reader the way the socket does: each read fills what readTarget offers, at most `chunk` bytes. */
function playReads(reader: FrameReader, wire: Buffer, chunk: number): number {
  const spare = new Uint8Array(64);
  let at = 0;
  let inPlace = 0;
  while (at < wire.length) {
    const target = reader.readTarget(spare);
    const n = Math.min(target.byteLength, chunk, wire.length - at);
    target.set(wire.subarray(at, at + n));
    if (target !== spare) inPlace += n;
    reader.push(target.subarray(0, n));
    at += n;
  }
  return inPlace;
}

test('payloads are read straight into their destination, headers through the spare buffer, across any read sizes', () => {
  const payloads = [new Uint8Array(4000), new Uint8Array(12), new Uint8Array(0), new Uint8Array(400)];
  payloads.forEach((p, i) => p.forEach((_, j) => (p[j] = (i * 31 + j * 7) & 0xff)));
  const wire = Buffer.concat(payloads.map((p, i) => dataFrame(i, p)));
  for (const chunk of [1, 7, 48, 100, 5000]) {
    const dests = payloads.map((p) => new Uint8Array(p.byteLength));
    const got: [Frame, Uint8Array][] = [];
    const reader = new FrameReader(
      (f) => dests[f.msgId],
      (f, body) => got.push([f, body]),
    );
    const inPlace = playReads(reader, wire, chunk);
    assert.equal(got.length, payloads.length, `read size ${chunk}`);
    got.forEach(([f, body], i) => {
      assert.equal(f.msgId, i);
      assert.equal(body, dests[i], 'the body handed over is the destination itself');
      assert.deepEqual(body, payloads[i]);
    });
    // With reads no larger than 64 bytes (the spare), the header read spills a little payload
    // through the spare; the rest of each payload must land in place.
    const total = payloads.reduce((s, p) => s + p.byteLength, 0);
    if (chunk >= HEADER_BYTES)
      assert.ok(
        inPlace >= total - payloads.length * 64,
        `read size ${chunk}: only ${inPlace} of ${total} bytes in place`,
      );
  }
});

test('a frame without a destination gets a fresh body of its own length', () => {
  const payload = Uint8Array.from({ length: 20 }, (_, i) => i + 1);
  const got: Uint8Array[] = [];
  const reader = new FrameReader(
    () => undefined,
    (_f, body) => got.push(body),
  );
  playReads(reader, dataFrame(5, payload), 9);
  assert.equal(got.length, 1);
  assert.deepEqual(got[0], payload);
});
