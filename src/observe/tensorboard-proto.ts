/**
 * Hand-encodes the few TensorFlow protos an event file needs (Event, Summary, Summary.Value,
 * SummaryMetadata, TensorProto, HistogramProto): a dozen fields do not justify a protobuf
 * runtime in every worker. Field numbers and wire types follow proto/tensorboard/event.proto,
 * which mirrors TensorFlow's; the reader decodes with that .proto, so a mismatch fails a test.
 */

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH = 2;
const WIRE_FIXED32 = 5;

/** Bytes of `n` as a protobuf varint (non-negative integers up to 2^53). */
function varintBytes(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/** Appends protobuf fields to a growing byte list; `finish()` returns the message bytes. */
export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];

  private tag(field: number, wire: number): void {
    this.rawVarint(field * 8 + wire);
  }

  /** Non-negative integers up to 2^53 (steps, enum values). */
  private rawVarint(n: number): void {
    this.parts.push(Uint8Array.from(varintBytes(n)));
  }

  varint(field: number, n: number): this {
    if (!Number.isInteger(n) || n < 0)
      throw new Error(`protobuf varint field ${field} needs a non-negative integer, got ${n}`);
    this.tag(field, WIRE_VARINT);
    this.rawVarint(n);
    return this;
  }

  double(field: number, x: number): this {
    this.tag(field, WIRE_FIXED64);
    const b = Buffer.alloc(8);
    b.writeDoubleLE(x, 0);
    this.parts.push(b);
    return this;
  }

  float(field: number, x: number): this {
    this.tag(field, WIRE_FIXED32);
    const b = Buffer.alloc(4);
    b.writeFloatLE(x, 0);
    this.parts.push(b);
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, WIRE_LENGTH);
    this.rawVarint(data.length);
    this.parts.push(data);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, Buffer.from(s, 'utf8'));
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  packedDoubles(field: number, values: ArrayLike<number>): this {
    const b = Buffer.alloc(8 * values.length);
    for (let i = 0; i < values.length; i++) b.writeDoubleLE(values[i] as number, 8 * i);
    return this.bytes(field, b);
  }

  finish(): Uint8Array {
    return Buffer.concat(this.parts);
  }
}

/** TensorFlow's DataType.DT_FLOAT. */
const DT_FLOAT = 1;

/** A TensorBoard histogram: bucket i counts values in (limits[i-1], limits[i]]. */
export interface HistogramData {
  min: number;
  max: number;
  num: number;
  sum: number;
  sumSquares: number;
  bucketLimits: number[];
  buckets: number[];
}

export type SummaryValue =
  { tag: string; kind: 'scalar'; value: number } | { tag: string; kind: 'histogram'; histogram: HistogramData };

function pluginMetadata(w: ProtoWriter, plugin: string): void {
  w.message(1, (pd) => pd.string(1, plugin));
}

/** A Summary.Value holding a TF2-style scalar: the tag, a rank-0 float tensor, the scalars plugin. */
function scalarValue(val: ProtoWriter, tag: string, value: number): void {
  val.string(1, tag);
  val.message(8, (t) => {
    t.varint(1, DT_FLOAT);
    t.message(2, () => undefined);
    const raw = Buffer.alloc(4);
    raw.writeFloatLE(value, 0);
    t.bytes(4, raw);
  });
  val.message(9, (m) => pluginMetadata(m, 'scalars'));
}

/** Event{wall_time, step, summary{value...}}. Scalars are TF2-style rank-0 float tensors. */
export function encodeSummaryEvent(wallTime: number, step: number, values: SummaryValue[]): Uint8Array {
  const ev = new ProtoWriter().double(1, wallTime);
  // proto3 omits a zero step, as TensorFlow's writer does.
  if (step !== 0) ev.varint(2, step);
  ev.message(5, (summary) => {
    for (const v of values) {
      summary.message(1, (val) => {
        if (v.kind === 'scalar') {
          scalarValue(val, v.tag, v.value);
        } else {
          val.string(1, v.tag);
          const h = v.histogram;
          val.message(5, (p) => {
            p.double(1, h.min).double(2, h.max).double(3, h.num).double(4, h.sum).double(5, h.sumSquares);
            p.packedDoubles(6, h.bucketLimits).packedDoubles(7, h.buckets);
          });
          // No metadata, as TensorFlow 1's writer: TensorBoard's data_compat turns `histo` values
          // into its histograms plugin's tensors on load.
        }
      });
    }
  });
  return ev.finish();
}

/** The first event of every file: Event{wall_time, file_version: "brain.Event:2"}. */
export function encodeFileVersionEvent(wallTime: number, writer = 'ringtrain'): Uint8Array {
  return new ProtoWriter()
    .double(1, wallTime)
    .string(3, 'brain.Event:2')
    .message(10, (m) => m.string(1, writer))
    .finish();
}

/**
 * Scalar events for a fixed set of tags, byte for byte what encodeSummaryEvent writes, built
 * from a template: the Summary of a tag set never changes but for its 4-byte floats, so it is
 * encoded once and each event patches the floats in and prepends wall time and step. Rank 0
 * writes one such event per training step, and the general encoder's many small buffers for it
 * cost time the other ranks then waited for at the all-reduce.
 */
export class ScalarEventEncoder {
  private readonly templates = new Map<string, { summary: Buffer; floatsAt: number[] }>();

  encode(wallTime: number, step: number, values: Record<string, number>): Uint8Array {
    const tags = Object.keys(values);
    const key = tags.join('\u0000');
    let t = this.templates.get(key);
    if (t === undefined) {
      t = ScalarEventEncoder.template(tags);
      this.templates.set(key, t);
    }
    tags.forEach((tag, i) => t.summary.writeFloatLE(values[tag] as number, t.floatsAt[i] as number));
    // Event{1: wall_time (fixed64), 2: step (varint, omitted at 0), 5: summary}.
    const tail = [...(step !== 0 ? [0x10, ...varintBytes(step)] : []), 0x2a, ...varintBytes(t.summary.length)];
    const out = Buffer.allocUnsafe(9 + tail.length + t.summary.length);
    out[0] = 0x09;
    out.writeDoubleLE(wallTime, 1);
    out.set(tail, 9);
    t.summary.copy(out, 9 + tail.length);
    return out;
  }

  private static template(tags: string[]): { summary: Buffer; floatsAt: number[] } {
    // Each Summary.Value as encodeSummaryEvent writes it; its float is the last 4 bytes of the
    // tensor, which the scalars metadata follows.
    const metaLength = new ProtoWriter().message(9, (m) => pluginMetadata(m, 'scalars')).finish().length;
    const parts: Uint8Array[] = [];
    const floatsAt: number[] = [];
    let at = 0;
    for (const tag of tags) {
      const value = new ProtoWriter().message(1, (val) => scalarValue(val, tag, 0)).finish();
      floatsAt.push(at + value.length - metaLength - 4);
      parts.push(value);
      at += value.length;
    }
    return { summary: Buffer.concat(parts), floatsAt };
  }
}
