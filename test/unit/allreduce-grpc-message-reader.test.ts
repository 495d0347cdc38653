import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { GrpcMessageReader, type HeadPlan } from '../../src/allreduce/grpc-message-reader';
import { framed, percentDecode, percentEncode, readStatus, statusTrailers } from '../../src/allreduce/grpc-h2';

/** Messages of a 1-byte head (a tag) and a body; the tag says where the body goes. */
function messages(...bodies: [number, number[]][]): Buffer {
  return Buffer.concat(bodies.map(([tag, body]) => framed(Buffer.from([tag, ...body]))));
}

function reader(into: (tag: number, bodyBytes: number) => HeadPlan<number>['into']): {
  r: GrpcMessageReader<number>;
  got: [number, number[], Uint8Array][];
} {
  const got: [number, number[], Uint8Array][] = [];
  const r = new GrpcMessageReader<number>(
    1000,
    (bytes, messageBytes) =>
      bytes.length === 0
        ? undefined
        : { head: bytes[0] as number, headBytes: 1, into: into(bytes[0] as number, messageBytes - 1) },
    (tag, body) => got.push([tag, Array.from(body), body]),
  );
  return { r, got };
}

test('messages split anywhere across DATA chunks come out whole and in order', () => {
  const wire = messages([1, [10, 11, 12]], [2, []], [3, Array.from({ length: 600 }, (_, i) => i % 251)]);
  for (const step of [1, 2, 5, 7, 64, wire.length]) {
    const { r, got } = reader(() => undefined);
    for (let i = 0; i < wire.length; i += step) r.push(wire.subarray(i, i + step));
    assert.deepEqual(
      got.map(([t, b]) => [t, b]),
      [
        [1, [10, 11, 12]],
        [2, []],
        [3, Array.from({ length: 600 }, (_, i) => i % 251)],
      ],
      `chunks of ${step}`,
    );
  }
});

test('a body goes straight into the buffer the head chose, or is dropped', () => {
  const target = new Uint8Array(4);
  const { r, got } = reader((tag) => (tag === 1 ? target : tag === 2 ? null : undefined));
  const wire = messages([1, [4, 3, 2, 1]], [2, [9, 9]], [3, [5]]);
  for (let i = 0; i < wire.length; i += 3) r.push(wire.subarray(i, i + 3));
  assert.equal(got[0]?.[2], target, 'the body should be the chosen buffer itself');
  assert.deepEqual(Array.from(target), [4, 3, 2, 1]);
  assert.deepEqual(
    got.map(([t, b]) => [t, b]),
    [
      [1, [4, 3, 2, 1]],
      [2, []],
      [3, [5]],
    ],
  );
});

test('compressed, oversized or mis-sized messages are refused with the reason', () => {
  const compressed = framed(Buffer.from([1, 2]));
  compressed[0] = 1;
  assert.throws(() => reader(() => undefined).r.push(compressed), /compressed/);
  const big = Buffer.alloc(5);
  big.writeUInt32BE(5000, 1);
  assert.throws(() => reader(() => undefined).r.push(big), /5000 bytes is larger than the limit of 1000/);
  assert.throws(() => reader(() => new Uint8Array(2)).r.push(messages([1, [1, 2, 3]])), /3 bytes cannot go into 2/);
});

test('grpc-message is percent-encoded as the spec says and reads back', () => {
  const text = 'generation 4, this ring is 5: 100% sure — ünïcode';
  const encoded = percentEncode(text);
  assert.match(encoded, /^generation 4, this ring is 5: 100%25 sure %E2%80%94 %C3%BCn%C3%AFcode$/);
  assert.equal(percentDecode(encoded), text);
  assert.deepEqual(readStatus(statusTrailers(9, text) as Record<string, string>), { code: 9, details: text });
  assert.equal(readStatus({}), undefined);
});
