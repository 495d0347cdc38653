/**
 * Hand-written protobuf encoding of `ChunkMessage` (proto/ringtrain.proto). Generic protobuf
 * libraries copy a `bytes` field at least twice; here the payload is copied once, straight
 * into the outgoing buffer, and on receive it is returned as a slice of the incoming buffer.
 * The bytes on the wire are exactly what any protobuf implementation would produce and parse.
 */
import type { WireDtype } from './wire-dtype';

export interface ChunkHeader {
  job: string;
  generation: number;
  opSeq: number;
  bucket: number;
  step: number;
  chunk: number;
  fromRank: number;
  elements: number;
  op: string;
  block: number;
  dtype: WireDtype;
}

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function writeVarint(buf: Buffer, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

const NUMERIC: [number, keyof ChunkHeader][] = [
  [2, 'generation'],
  [3, 'opSeq'],
  [4, 'bucket'],
  [5, 'step'],
  [6, 'chunk'],
  [7, 'fromRank'],
  [8, 'elements'],
  [10, 'block'],
];

function headerSize(h: ChunkHeader, job: Buffer, op: Buffer, dtype: Buffer): number {
  let n = 0;
  for (const s of [job, op, dtype]) if (s.length > 0) n += 1 + varintSize(s.length) + s.length;
  for (const [, k] of NUMERIC) {
    const v = h[k] as number;
    if (v !== 0) n += 1 + varintSize(v);
  }
  return n;
}

/** Protobuf fields written in place into one preallocated buffer. */
class Writer {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  /** A length-delimited field (string or bytes); empty ones are left out, as proto3 does. */
  bytes(field: number, s: Uint8Array): void {
    if (s.length === 0) return;
    this.buf[this.pos++] = (field << 3) | WIRE_LEN;
    this.pos = writeVarint(this.buf, this.pos, s.length);
    this.buf.set(s, this.pos);
    this.pos += s.length;
  }
  /** A varint field; zero is left out, as proto3 does. */
  num(field: number, v: number): void {
    if (v === 0) return;
    this.buf[this.pos++] = (field << 3) | WIRE_VARINT;
    this.pos = writeVarint(this.buf, this.pos, v);
  }
}

/**
 * One buffer holding the whole message, header then the payload copied once, after `reserve`
 * bytes left free at the front (for a transport's own framing, so it need not copy again).
 */
export function encodeChunk(h: ChunkHeader, payload: Uint8Array, reserve = 0): Buffer {
  const fields = headFields(h);
  const w = new Writer(Buffer.allocUnsafe(reserve + headBytes(fields, payload.length) + payload.length));
  w.pos = reserve;
  writeHead(w, fields, payload.length);
  w.buf.set(payload, w.pos);
  return w.buf;
}

/**
 * Everything of the message but the payload's bytes, after `reserve` bytes left free at the
 * front (for a transport's own framing): a stream sends this, then the payload from where it
 * lies, and the bytes on the wire are those of encodeChunk.
 */
export function encodeChunkHead(h: ChunkHeader, payloadBytes: number, reserve = 0): Buffer {
  const fields = headFields(h);
  const w = new Writer(Buffer.allocUnsafe(reserve + headBytes(fields, payloadBytes)));
  w.pos = reserve;
  return writeHead(w, fields, payloadBytes).buf;
}

interface HeadFields {
  h: ChunkHeader;
  job: Buffer;
  op: Buffer;
  dtype: Buffer;
  headerSize: number;
}

function headFields(h: ChunkHeader): HeadFields {
  const job = Buffer.from(h.job);
  const op = Buffer.from(h.op);
  const dtype = Buffer.from(h.dtype);
  return { h, job, op, dtype, headerSize: headerSize(h, job, op, dtype) };
}

/** Bytes of the message before the payload's own bytes. */
function headBytes(f: HeadFields, payloadBytes: number): number {
  return 1 + varintSize(f.headerSize) + f.headerSize + (payloadBytes > 0 ? 1 + varintSize(payloadBytes) : 0);
}

function writeHead(w: Writer, f: HeadFields, payloadBytes: number): Writer {
  const { h } = f;
  w.buf[w.pos++] = (1 << 3) | WIRE_LEN;
  w.pos = writeVarint(w.buf, w.pos, f.headerSize);
  // Fields in number order, as protobuf encoders emit them.
  w.bytes(1, f.job);
  for (const [field, k] of NUMERIC.slice(0, 7)) w.num(field, h[k] as number);
  w.bytes(9, f.op);
  w.num(10, h.block);
  w.bytes(11, f.dtype);
  if (payloadBytes > 0) {
    w.buf[w.pos++] = (2 << 3) | WIRE_LEN;
    w.pos = writeVarint(w.buf, w.pos, payloadBytes);
  }
  return w;
}

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }
  varint(): number {
    let v = 0;
    let mult = 1;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++] as number;
      v += (b & 0x7f) * mult;
      if ((b & 0x80) === 0) return v;
      mult *= 128;
      if (mult > 2 ** 63) throw new Error('varint too long');
    }
  }
  /** A length-delimited UTF-8 field's text (the tag already read). */
  text(field: number): string {
    const len = this.varint();
    if (this.pos + len > this.end) throw new Error(`field ${field} runs past the end of the message`);
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }
  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_LEN) this.pos += this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
    if (this.pos > this.end) throw new Error('truncated field');
  }
}

/** Parses a ChunkMessage; the payload is a view into `buf` (no copy). Throws on malformed input. */
export function decodeChunk(buf: Buffer): { header: ChunkHeader; payload: Buffer } {
  const h: ChunkHeader = {
    job: '',
    generation: 0,
    opSeq: 0,
    bucket: 0,
    step: 0,
    chunk: 0,
    fromRank: 0,
    elements: 0,
    op: '',
    block: 0,
    dtype: 'fp32',
  };
  let payload = buf.subarray(0, 0);
  let sawHeader = false;
  const r = new Reader(buf, 0, buf.length);
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire !== WIRE_LEN || (field !== 1 && field !== 2)) {
      r.skip(wire);
      continue;
    }
    const len = r.varint();
    const start = r.pos;
    const end = start + len;
    if (end > r.end) throw new Error(`field ${field} runs past the end of the message (${end} > ${r.end})`);
    r.pos = end;
    if (field === 2) {
      payload = buf.subarray(start, end);
      continue;
    }
    sawHeader = true;
    const hr = new Reader(buf, start, end);
    while (hr.pos < end) {
      const htag = hr.varint();
      const hf = Math.floor(htag / 8);
      const hw = htag & 7;
      if (hw === WIRE_LEN && (hf === 1 || hf === 9 || hf === 11)) {
        const s = hr.text(hf);
        if (hf === 1) h.job = s;
        else if (hf === 9) h.op = s;
        else h.dtype = s as WireDtype;
        continue;
      }
      const numeric = NUMERIC.find(([f]) => f === hf);
      if (hw === WIRE_VARINT && numeric !== undefined) {
        (h as unknown as Record<string, number>)[numeric[1]] = hr.varint();
        continue;
      }
      hr.skip(hw);
    }
  }
  if (!sawHeader) throw new Error('chunk without a header');
  return { header: h, payload };
}

/**
 * The head of a ChunkMessage read from its first bytes, as ringtrain's own senders lay it out
 * (header, then the payload as the last field): the header and how many bytes precede the
 * payload. undefined = more bytes are needed; throws when the layout is not that, or malformed.
 */
export function readChunkHead(
  bytes: Buffer,
  messageBytes: number,
): { header: ChunkHeader; headBytes: number } | undefined {
  const complete = bytes.length >= messageBytes;
  const need = (): undefined => {
    if (complete) throw new Error('chunk ends inside its header');
    return undefined;
  };
  if (bytes.length === 0) return need();
  if (bytes[0] !== ((1 << 3) | WIRE_LEN)) throw new Error('chunk does not start with its header');
  const r = new Reader(bytes, 1, bytes.length);
  let headerEnd: number;
  try {
    headerEnd = r.varint() + r.pos;
  } catch {
    return need();
  }
  if (bytes.length < headerEnd) return need();
  const { header } = decodeChunk(bytes.subarray(0, headerEnd));
  if (headerEnd === messageBytes) return { header, headBytes: headerEnd };
  if (bytes.length === headerEnd) return need();
  if (bytes[headerEnd] !== ((2 << 3) | WIRE_LEN))
    throw new Error('chunk has fields after its header other than the payload');
  const pr = new Reader(bytes, headerEnd + 1, bytes.length);
  let payloadBytes: number;
  try {
    payloadBytes = pr.varint();
  } catch {
    return need();
  }
  if (pr.pos + payloadBytes !== messageBytes)
    throw new Error(`chunk payload of ${payloadBytes} bytes does not end the ${messageBytes}-byte message`);
  return { header, headBytes: pr.pos };
}

/**
 * `PullMessage`: what the receiver of a Pull stream sends upstream. The first one names the
 * puller (job, generation, rank); later ones carry a refusal of a chunk, with its gRPC status.
 */
export interface PullMessage {
  job: string;
  generation: number;
  fromRank: number;
  refusal: string;
  code: number;
}

export function encodePull(m: PullMessage): Buffer {
  const job = Buffer.from(m.job);
  const refusal = Buffer.from(m.refusal);
  // Room for three 11-byte varint fields and two string fields' tags and lengths.
  const w = new Writer(Buffer.allocUnsafe(3 * 11 + 2 * 6 + job.length + refusal.length));
  w.bytes(1, job);
  w.num(2, m.generation);
  w.num(3, m.fromRank);
  w.bytes(4, refusal);
  w.num(5, m.code);
  return w.buf.subarray(0, w.pos);
}

/** Parses a PullMessage; throws on malformed input. */
export function decodePull(buf: Buffer): PullMessage {
  const m: PullMessage = { job: '', generation: 0, fromRank: 0, refusal: '', code: 0 };
  const r = new Reader(buf, 0, buf.length);
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === WIRE_LEN && (field === 1 || field === 4)) {
      const s = r.text(field);
      if (field === 1) m.job = s;
      else m.refusal = s;
    } else if (wire === WIRE_VARINT && (field === 2 || field === 3 || field === 5)) {
      const v = r.varint();
      if (field === 2) m.generation = v;
      else if (field === 3) m.fromRank = v;
      else m.code = v;
    } else {
      r.skip(wire);
    }
  }
  return m;
}
