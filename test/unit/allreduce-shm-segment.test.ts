import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DATA_START,
  SegmentRing,
  createSegment,
  isOwnAddress,
  offerLine,
  openSegment,
  parseOffer,
  removeSegmentsOf,
  unlinkSegment,
} from '../../src/allreduce/shm-segment';
import { nativeSharedMemory } from '../../src/native';

const skip = nativeSharedMemory().shm === undefined ? 'no native addon' : false;

test('the segment ring hands out aligned regions, wraps, and never overlaps a region still in use', () => {
  // Payload space starts after the header and the frame queue, at D.
  const D = DATA_START;
  const ring = new SegmentRing(new Uint8Array(D + 1024));
  const a = ring.alloc(300); // 320 after alignment
  const b = ring.alloc(300);
  const c = ring.alloc(300);
  assert.deepEqual([a, b, c], [D, D + 320, D + 640]);
  assert.equal(ring.alloc(100), -1, 'only 64 bytes left at the end, nothing freed at the front');
  ring.free(b); // freed out of order: the tail cannot move past a
  assert.equal(ring.alloc(100), -1);
  ring.free(a); // now a and b are both gone: the front has room for 640 bytes
  assert.equal(ring.alloc(600), D, 'wraps to the front');
  assert.equal(ring.alloc(100), -1, 'wrapped: only the gap before c counts, and it is 0 bytes');
  assert.equal(ring.inUse, 2);
  ring.free(c);
  ring.free(D);
  assert.equal(ring.inUse, 0);
  assert.equal(ring.alloc(1024), D, 'empty again: the whole data area');
  assert.equal(ring.alloc(1), -1);
  ring.free(12345); // unknown offsets are ignored
  assert.equal(ring.inUse, 1);
});

test('an offer line parses back to what was offered, and garbage is no offer', () => {
  const o = {
    path: '/dev/shm/ringtrain-1-abc',
    bytes: 1 << 20,
    nonce: '0123456789abcdef0123456789abcdef',
    view: new Uint8Array(0),
  };
  assert.deepEqual(parseOffer(offerLine(o)), { path: o.path, bytes: o.bytes, nonce: o.nonce });
  assert.equal(parseOffer('shm 12 nothex /x'), undefined);
  assert.equal(parseOffer(''), undefined);
});

test(
  'a segment maps in a second place with the same bytes; a wrong nonce or a missing file is refused with the reason',
  { skip },
  () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rt-shm-'));
    try {
      const o = createSegment(1 << 16, dir);
      if ('why' in o) return assert.fail(o.why);
      const other = openSegment({ path: o.path, bytes: o.bytes, nonce: o.nonce });
      if (!(other instanceof Uint8Array)) return assert.fail(other.why);
      o.view[5000] = 77;
      assert.equal(other[5000], 77, 'the two mappings share their bytes');
      const wrong = openSegment({ path: o.path, bytes: o.bytes, nonce: 'f'.repeat(32) });
      assert.match((wrong as { why: string }).why, /is not the peer's segment \(another host's \/dev\/shm\)/);
      const size = openSegment({ path: o.path, bytes: o.bytes * 2, nonce: o.nonce });
      assert.match((size as { why: string }).why, /differs from the announced/);
      unlinkSegment(o.path);
      assert.equal(fs.existsSync(o.path), false);
      assert.equal(other[5000], 77, 'a mapping outlives its file');
      const gone = openSegment({ path: o.path, bytes: o.bytes, nonce: o.nonce });
      assert.match((gone as { why: string }).why, /cannot map .*No such file or directory.*another host or container/);
      const missing = createSegment(1 << 16, path.join(dir, 'no-such-dir'));
      assert.match((missing as { why: string }).why, /no-such-dir does not exist/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("segments are offered only to peers connecting from one of this host's own addresses", () => {
  assert.equal(isOwnAddress('127.0.0.1'), true);
  assert.equal(isOwnAddress('::ffff:127.0.0.1'), true);
  assert.equal(isOwnAddress('::1'), true);
  const own = Object.values(os.networkInterfaces())
    .flat()
    .find((i) => i !== undefined && !i.internal);
  if (own !== undefined) assert.equal(isOwnAddress(own.address), true, own.address);
  assert.equal(isOwnAddress('203.0.113.7'), false, 'TEST-NET-3: never an address of this host');
  assert.equal(isOwnAddress(undefined), false);
});

test('the files a killed process left in the segment directory are removed, and only its own', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rt-shm-'));
  try {
    for (const n of [
      'ringtrain-4242-aaaa',
      'ringtrain-4242-bbbb',
      'ringtrain-42420-cccc',
      'ringtrain-77-dddd',
      'other',
    ])
      fs.writeFileSync(path.join(dir, n), 'x');
    assert.deepEqual(removeSegmentsOf(4242, dir).sort(), ['ringtrain-4242-aaaa', 'ringtrain-4242-bbbb']);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['other', 'ringtrain-42420-cccc', 'ringtrain-77-dddd']);
    assert.deepEqual(removeSegmentsOf(4242, path.join(dir, 'missing')), [], 'no directory, nothing to do');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the streaming copy into a shared segment copies every bit, at any alignment and length', { skip }, () => {
  const copy = nativeSharedMemory().shm?.copyStreaming;
  assert.ok(copy !== undefined, 'the addon that maps segments also has copyStreaming');
  for (const [length, offset] of [
    [0, 0],
    [1, 0],
    [3, 1],
    [7, 3],
    [4096, 2],
    [101_771, 1],
  ] as const) {
    const src = Float32Array.from({ length }, (_, i) => Math.sin(i + 1) * 1e3);
    // NaN payloads and -0 are bits to keep, not values to compute with.
    if (length > 2) new Uint32Array(src.buffer)[1] = 0x7fc01234;
    if (length > 3) src[2] = -0;
    const mem = new Float32Array(length + 8).fill(7);
    const dst = mem.subarray(offset, offset + length);
    copy(dst, src);
    assert.deepEqual(
      new Uint32Array(dst.slice().buffer),
      new Uint32Array(src.buffer),
      `length ${length} at float offset ${offset}`,
    );
    assert.ok(
      mem.subarray(0, offset).every((v) => v === 7) && mem.subarray(offset + length).every((v) => v === 7),
      'nothing outside dst is written',
    );
  }
});

test(
  "the pair's add straight from the peer's half gives float32 (a + b) * scale, rounded after each operation, at any alignment and length, and to both halves when asked",
  { skip },
  () => {
    const add = nativeSharedMemory().shm?.addScaled;
    assert.ok(add !== undefined, 'the addon that maps segments also has addScaled');
    for (const scale of [1, 0.5, 1 / 3]) {
      for (const [length, offset] of [
        [0, 0],
        [1, 0],
        [7, 3],
        [9, 1],
        [4096, 2],
        [101_771, 1],
      ] as const) {
        // Values whose sums round, so a fused or reordered operation would show.
        const a = Float32Array.from({ length }, (_, i) => Math.sin(i + 1) * 1e3);
        const b = Float32Array.from({ length }, (_, i) => Math.cos(3 * i) / 7);
        if (length > 2) b[1] = NaN;
        // The scale is a float32 too, as scaleFloats takes it.
        const want = a.map((v, i) => Math.fround(Math.fround(v + (b[i] as number)) * Math.fround(scale)));
        const mem = new Float32Array(length + 8).fill(7);
        const dst = mem.subarray(offset, offset + length);
        dst.set(a);
        add(dst, b, scale);
        assert.deepEqual(dst.slice(), want, `length ${length} at float offset ${offset}, scale ${scale}`);
        assert.ok(
          mem.subarray(0, offset).every((v) => v === 7) && mem.subarray(offset + length).every((v) => v === 7),
          'nothing outside dst is written',
        );
        // The in-place pair's kernel: the same results, in both buffers (the peer's half too).
        const squaresBoth = nativeSharedMemory().shm?.addScaledSquares;
        assert.ok(squaresBoth !== undefined, 'the addon that maps segments also has addScaledSquares');
        const [mine, peers] = [Float32Array.from(a), new Float32Array(length + 8).fill(7)];
        const theirs = peers.subarray(offset, offset + length);
        theirs.set(b);
        squaresBoth(mine, theirs, scale, Math.floor(length / 2), true);
        assert.deepEqual([mine.slice(), theirs.slice()], [want, want], `both: length ${length}, scale ${scale}`);
        assert.ok(
          peers.subarray(0, offset).every((v) => v === 7) && peers.subarray(offset + length).every((v) => v === 7),
          'nothing outside the peer part is written',
        );
      }
    }
  },
);
