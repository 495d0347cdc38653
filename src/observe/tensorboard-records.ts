/**
 * TensorFlow's record framing (TFRecord), the container of TensorBoard event files:
 *
 *   uint64 length | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
 *
 * all little-endian. CRC32C is the Castagnoli polynomial (not zlib's CRC32); the mask rotates the
 * CRC right by 15 bits and adds a constant, because TensorFlow found that storing the CRC of data
 * that itself embeds CRCs makes the check weaker. A reader verifies both CRCs, so a torn write
 * (a writer killed mid-record) shows up as a truncated or corrupt last record, never as garbage.
 */
import { RingtrainError } from '../core';

/** CRC32C (Castagnoli) reversed polynomial. */
const CASTAGNOLI = 0x82f63b78;
const MASK_DELTA = 0xa282ead8;
export const RECORD_HEADER_BYTES = 12;
export const RECORD_FOOTER_BYTES = 4;

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? CASTAGNOLI ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = (TABLE[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function maskedCrc32c(data: Uint8Array): number {
  const c = crc32c(data);
  return (((c >>> 15) | (c << 17)) + MASK_DELTA) >>> 0;
}

/** One record, framed and ready to append to a file. */
export function frameRecord(data: Uint8Array): Buffer {
  const out = Buffer.alloc(RECORD_HEADER_BYTES + data.length + RECORD_FOOTER_BYTES);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, RECORD_HEADER_BYTES);
  out.writeUInt32LE(maskedCrc32c(data), RECORD_HEADER_BYTES + data.length);
  return out;
}

export interface RecordSplit {
  /** Each record's data, in file order; both CRCs verified. */
  records: Buffer[];
  /** Bytes at the end that do not form a whole record (a write in progress or torn). */
  trailingBytes: number;
}

/**
 * Splits a file's bytes into records, checking both CRCs of each. A partial record at the very
 * end is reported, not thrown: TensorBoard reads files that are still being written.
 */
export function splitRecords(buf: Buffer, name = 'event file'): RecordSplit {
  const records: Buffer[] = [];
  let at = 0;
  while (at < buf.length) {
    if (buf.length - at < RECORD_HEADER_BYTES) break;
    const lenBig = buf.readBigUInt64LE(at);
    const lengthCrc = buf.readUInt32LE(at + 8);
    const expectLengthCrc = maskedCrc32c(buf.subarray(at, at + 8));
    if (lengthCrc !== expectLengthCrc) {
      throw new RingtrainError(
        'DATA_INVALID',
        `${name}: record ${records.length} at byte ${at} has length CRC 0x${lengthCrc.toString(16)}, expected 0x${expectLengthCrc.toString(16)}: the file is corrupt or not a TFRecord file`,
      );
    }
    const len = Number(lenBig);
    const end = at + RECORD_HEADER_BYTES + len + RECORD_FOOTER_BYTES;
    if (end > buf.length) break;
    const data = buf.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + len);
    const dataCrc = buf.readUInt32LE(at + RECORD_HEADER_BYTES + len);
    const expectDataCrc = maskedCrc32c(data);
    if (dataCrc !== expectDataCrc) {
      throw new RingtrainError(
        'DATA_INVALID',
        `${name}: record ${records.length} at byte ${at} (${len} bytes) has data CRC 0x${dataCrc.toString(16)}, expected 0x${expectDataCrc.toString(16)}: the file is corrupt`,
      );
    }
    records.push(data);
    at = end;
  }
  return { records, trailingBytes: buf.length - at };
}
