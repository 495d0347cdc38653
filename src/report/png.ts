/**
 * PNG encoding with node:zlib and nothing else: signature, IHDR (8-bit RGBA), one IDAT of the
 * deflated scanlines, IEND. Each scanline uses the "Up" filter when that is the smaller choice
 * for flat plots (rows repeat a lot) and none otherwise; PNG's CRC32 is zlib's polynomial.
 */
import * as zlib from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const FILTER_NONE = 0;
const FILTER_UP = 2;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array, start = 0xffffffff): number {
  let c = start;
  for (let i = 0; i < data.length; i++) c = (CRC_TABLE[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return c >>> 0;
}

function chunk(type: string, body: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE((crc32(body, crc32(head.subarray(4, 8))) ^ 0xffffffff) >>> 0, 0);
  return Buffer.concat([head, body, crc]);
}

/** Encodes RGBA pixels (row-major, 4 bytes each) as a PNG file. */
export function encodePng(width: number, height: number, rgba: Uint8Array): Buffer {
  const stride = width * 4;
  if (rgba.length !== stride * height)
    throw new Error(`PNG of ${width}x${height} needs ${stride * height} bytes of RGBA, got ${rgba.length}`);
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = rgba.subarray(y * stride, (y + 1) * stride);
    const out = (stride + 1) * y;
    // "Up" turns a row equal to the one above into zeros: cheap and very effective on plots.
    const useUp = y > 0 && Buffer.compare(row, rgba.subarray((y - 1) * stride, y * stride)) === 0;
    raw[out] = useUp ? FILTER_UP : FILTER_NONE;
    if (!useUp) raw.set(row, out + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type RGBA
  ihdr[10] = 0; // deflate
  ihdr[11] = 0; // adaptive filtering
  ihdr[12] = 0; // no interlace
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export interface DecodedPng {
  width: number;
  height: number;
  rgba: Uint8Array;
}

/**
 * Decodes the PNGs this module writes (8-bit RGBA, filters None/Sub/Up/Average/Paeth, no
 * interlace), checking every chunk CRC: tests read plots back to check pixels.
 */
export function decodePng(file: Buffer): DecodedPng {
  if (!file.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG file: bad signature');
  let at = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (at < file.length) {
    const len = file.readUInt32BE(at);
    const type = file.toString('ascii', at + 4, at + 8);
    const body = file.subarray(at + 8, at + 8 + len);
    const crc = file.readUInt32BE(at + 8 + len);
    const expect = (crc32(body, crc32(file.subarray(at + 4, at + 8))) ^ 0xffffffff) >>> 0;
    if (crc !== expect)
      throw new Error(`PNG chunk ${type} at byte ${at} has CRC ${crc.toString(16)}, expected ${expect.toString(16)}`);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      if (body[8] !== 8 || body[9] !== 6 || body[12] !== 0)
        throw new Error('only 8-bit RGBA, non-interlaced PNGs are supported');
    } else if (type === 'IDAT') idat.push(body);
    at += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * 4;
  const rgba = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[(stride + 1) * y] as number;
    const src = raw.subarray((stride + 1) * y + 1, (stride + 1) * (y + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= 4 ? (rgba[y * stride + i - 4] as number) : 0;
      const b = y > 0 ? (rgba[(y - 1) * stride + i] as number) : 0;
      const c = i >= 4 && y > 0 ? (rgba[(y - 1) * stride + i - 4] as number) : 0;
      const p = a + b - c;
      const pred = [
        0,
        a,
        b,
        Math.floor((a + b) / 2),
        Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c)
          ? a
          : Math.abs(p - b) <= Math.abs(p - c)
            ? b
            : c,
      ][filter];
      if (pred === undefined) throw new Error(`PNG row ${y} has unknown filter ${filter}`);
      rgba[y * stride + i] = ((src[i] as number) + pred) & 0xff;
    }
  }
  return { width, height, rgba };
}
