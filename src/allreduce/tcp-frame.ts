/**
 * Frames of the TCP data plane: a fixed 48-byte little-endian header, then `length` bytes
 * (a payload for DATA, where it lies in shared memory for DATA_SHARED, UTF-8 text for HELLO,
 * NACK and SHARED_REPLY). Fixed-size headers let the reader know
 * where a payload starts before it arrives, so payloads can be read straight into place.
 */
import type { MessageKey } from './transport';
import { WIRE_DTYPES, type WireDtype } from './wire-dtype';

export const FRAME_MAGIC = 0x47475452; // "RTGG" little-endian
export const HEADER_BYTES = 48;

export enum FrameType {
  Hello = 1,
  Data = 2,
  Ack = 3,
  Nack = 4,
  /** A payload in the shared segment (shm-segment.ts): the body is its offset and length. */
  DataShared = 5,
  /** The receiver's answer to a segment offer: empty = mapped, else why not. */
  SharedReply = 6,
  /** DATA_SHARED frames wait in the segment's frame queue (shm-frame-queue.ts): drain it. No body. */
  SharedKick = 7,
}

/** Body of a DataShared frame: offset and byte length, two little-endian uint32. */
export const SHARED_BODY_BYTES = 8;

const OPS: readonly MessageKey['op'][] = ['allreduce', 'broadcast', 'barrier'];

/** Error codes a NACK can carry, by index. */
export const NACK_CODES = ['PEER_REFUSED', 'STALE_GENERATION', 'SIZE_MISMATCH', 'TIMEOUT', 'ABORTED'] as const;
export type NackCode = (typeof NACK_CODES)[number];

export interface Frame {
  type: FrameType;
  dtype: WireDtype;
  op: MessageKey['op'];
  nackCode: NackCode;
  generation: number;
  key: Omit<MessageKey, 'op'>;
  fromRank: number;
  elements: number;
  msgId: number;
  length: number;
}

export function writeHeader(buf: Buffer, f: Frame): void {
  writeHeaderAs(buf, f, f.type, f.length);
}

/**
 * writeHeader with the type and length apart: a data frame's header is written from the send's
 * fields as they are, with no object built per message ({ ...h, type } would get a hidden class
 * of its own every time).
 */
function writeHeaderAs(buf: Buffer, f: DataHeader, type: FrameType, length: number): void {
  buf.writeUInt32LE(FRAME_MAGIC, 0);
  buf[4] = type;
  buf[5] = WIRE_DTYPES.indexOf(f.dtype);
  buf[6] = OPS.indexOf(f.op);
  buf[7] = NACK_CODES.indexOf(f.nackCode);
  const k = f.key;
  buf.writeUInt32LE(f.generation >>> 0, 8);
  buf.writeUInt32LE(k.opSeq >>> 0, 12);
  buf.writeUInt32LE(k.bucket >>> 0, 16);
  buf.writeUInt32LE(k.step >>> 0, 20);
  buf.writeUInt32LE(k.chunk >>> 0, 24);
  buf.writeUInt32LE(k.block >>> 0, 28);
  buf.writeUInt32LE(f.fromRank >>> 0, 32);
  buf.writeUInt32LE(f.elements >>> 0, 36);
  buf.writeUInt32LE(f.msgId >>> 0, 40);
  buf.writeUInt32LE(length >>> 0, 44);
}

/** Parses a header; throws with the reason when it is not one of ours. */
export function readHeader(buf: Buffer, at: number): Frame {
  const magic = buf.readUInt32LE(at);
  if (magic !== FRAME_MAGIC)
    throw new Error(`bad frame magic 0x${magic.toString(16)}: the peer is not a ringtrain TCP endpoint`);
  const type = buf[at + 4] as number;
  if (type < FrameType.Hello || type > FrameType.SharedKick) throw new Error(`unknown frame type ${type}`);
  const dtype = WIRE_DTYPES[buf[at + 5] as number];
  const op = OPS[buf[at + 6] as number];
  const nackCode = NACK_CODES[buf[at + 7] as number] ?? 'PEER_REFUSED';
  if (dtype === undefined || op === undefined) throw new Error(`unknown dtype ${buf[at + 5]} or op ${buf[at + 6]}`);
  const w = (i: number): number => buf.readUInt32LE(at + 8 + 4 * i);
  return {
    type,
    dtype,
    op,
    nackCode,
    generation: w(0),
    key: { opSeq: w(1), bucket: w(2), step: w(3), chunk: w(4), block: w(5) },
    fromRank: w(6),
    elements: w(7),
    msgId: w(8),
    length: w(9),
  };
}

/** A frame's fields but its type and length, which dataFrame and sharedDataFrame set. */
export type DataHeader = Omit<Frame, 'type' | 'length'>;

/** A DATA frame: the header and the payload, or the header alone when the payload is lent (written behind it). */
export function dataFrame(h: DataHeader, payload: Uint8Array, lent: boolean): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES + (lent ? 0 : payload.byteLength));
  writeHeaderAs(buf, h, FrameType.Data, payload.byteLength);
  if (!lent) buf.set(payload, HEADER_BYTES);
  return buf;
}

/** A DATA_SHARED frame: where the payload's `bytes` lie in the shared segment. */
export function sharedDataFrame(h: DataHeader, offset: number, bytes: number): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES + SHARED_BODY_BYTES);
  writeHeaderAs(buf, h, FrameType.DataShared, SHARED_BODY_BYTES);
  buf.writeUInt32LE(offset, HEADER_BYTES);
  buf.writeUInt32LE(bytes, HEADER_BYTES + 4);
  return buf;
}

export function controlFrame(type: FrameType, base: Partial<Frame>, text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const buf = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  writeHeader(buf, {
    type,
    dtype: 'fp32',
    op: base.op ?? 'allreduce',
    nackCode: base.nackCode ?? 'PEER_REFUSED',
    generation: base.generation ?? 0,
    key: base.key ?? { opSeq: 0, bucket: 0, step: 0, chunk: 0, block: 0 },
    fromRank: base.fromRank ?? 0,
    elements: 0,
    msgId: base.msgId ?? 0,
    length: body.length,
  });
  body.copy(buf, HEADER_BYTES);
  return buf;
}

/**
 * Incremental frame reader: feed it whatever the socket read; it calls `onHeader` once a
 * header is complete (which returns where the payload should go, or undefined to keep a copy)
 * and `onFrame` once the frame's bytes are all in.
 */
export class FrameReader {
  private header = Buffer.alloc(HEADER_BYTES);
  private headerFill = 0;
  private frame: Frame | undefined;
  private body: Uint8Array | undefined;
  private bodyFill = 0;

  constructor(
    private readonly onHeader: (f: Frame) => Uint8Array | undefined,
    private readonly onFrame: (f: Frame, body: Uint8Array) => void,
  ) {}

  /**
   * Where the socket should read next: the rest of the current payload's destination, so the
   * kernel copies it straight into place, or `spare` between payloads (headers, small frames).
   */
  readTarget(spare: Uint8Array): Uint8Array {
    const body = this.body;
    if (this.frame === undefined || body === undefined || this.bodyFill >= body.byteLength) return spare;
    return body.subarray(this.bodyFill);
  }

  push(data: Uint8Array): void {
    let pos = 0;
    while (pos < data.length) {
      if (this.frame === undefined) {
        const take = Math.min(HEADER_BYTES - this.headerFill, data.length - pos);
        this.header.set(data.subarray(pos, pos + take), this.headerFill);
        this.headerFill += take;
        pos += take;
        if (this.headerFill < HEADER_BYTES) return;
        this.headerFill = 0;
        const f = readHeader(this.header, 0);
        this.frame = f;
        const dest = this.onHeader(f);
        this.body = dest !== undefined && dest.byteLength === f.length ? dest : new Uint8Array(f.length);
        this.bodyFill = 0;
      }
      const f = this.frame;
      const body = this.body as Uint8Array;
      const take = Math.min(f.length - this.bodyFill, data.length - pos);
      // Bytes the socket read straight into the body (see readTarget) are already in place.
      const inPlace = data.buffer === body.buffer && data.byteOffset + pos === body.byteOffset + this.bodyFill;
      if (!inPlace) body.set(data.subarray(pos, pos + take), this.bodyFill);
      this.bodyFill += take;
      pos += take;
      if (this.bodyFill === f.length) {
        this.frame = undefined;
        this.body = undefined;
        this.onFrame(f, body);
      }
    }
  }
}
