/**
 * Reads TensorBoard event files back: splits the records (checking both CRCs of each) and decodes
 * every Event with protobufjs from proto/tensorboard/event.proto, which carries TensorFlow's field
 * numbers. The writer encodes by hand, so decoding here with a schema is an independent check of
 * the writer, and the same reader decodes files TensorFlow itself wrote.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { RingtrainError } from '../core';
import type { HistogramData } from './tensorboard-proto';
import { splitRecords } from './tensorboard-records';

export interface DecodedValue {
  tag: string;
  /** SummaryMetadata.plugin_data.plugin_name when present ("scalars", "histograms"). */
  plugin: string;
  /** SummaryMetadata.plugin_data.content when not empty (the HParams plugin's protos). */
  content?: Buffer;
  /** Set for simple_value and for rank-0 float tensors (TF 1 and TF 2 scalars). */
  scalar?: number;
  histogram?: HistogramData;
}

export interface DecodedEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  values: DecodedValue[];
}

export interface EventFileContents {
  events: DecodedEvent[];
  /** Bytes after the last whole record (a file still being written). */
  trailingBytes: number;
}

interface TensorObject {
  dtype?: string;
  tensorContent?: Buffer;
  floatVal?: number[];
  doubleVal?: number[];
}

interface ValueObject {
  tag?: string;
  metadata?: { pluginData?: { pluginName?: string; content?: Buffer } };
  simpleValue?: number;
  tensor?: TensorObject;
  histo?: {
    min?: number;
    max?: number;
    num?: number;
    sum?: number;
    sumSquares?: number;
    bucketLimit?: number[];
    bucket?: number[];
  };
}

interface EventObject {
  wallTime?: number;
  step?: number;
  fileVersion?: string;
  summary?: { value?: ValueObject[] };
}

function protoFile(name = 'event.proto'): string {
  const candidates = [
    path.resolve(__dirname, `../../../proto/tensorboard/${name}`),
    path.resolve(__dirname, `../../proto/tensorboard/${name}`),
  ];
  const found = candidates.find((p) => fs.existsSync(p));
  if (found === undefined)
    throw new RingtrainError(
      'DATA_INVALID',
      `proto/tensorboard/${name} not found near ${__dirname}: is the package installed whole?`,
    );
  return found;
}

let hparamsType: protobuf.Type | undefined;

/**
 * An HParams summary's plugin content (DecodedValue.content of a value whose plugin is
 * "hparams") as a plain object, decoded with proto/tensorboard/hparams.proto: enums as their
 * names, google.protobuf.Value as {numberValue | stringValue | boolValue}.
 */
export function decodeHParamsContent(content: Uint8Array): Record<string, unknown> {
  hparamsType ??= protobuf.loadSync(protoFile('hparams.proto')).lookupType('tensorboard.hparams.HParamsPluginData');
  return hparamsType.toObject(hparamsType.decode(content), {
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  }) as Record<string, unknown>;
}

let eventType: protobuf.Type | undefined;

function eventProto(): protobuf.Type {
  eventType ??= protobuf.loadSync(protoFile()).lookupType('tensorboard.Event');
  return eventType;
}

function tensorScalar(t: TensorObject): number | undefined {
  if (t.dtype === 'DT_FLOAT') {
    if (t.tensorContent !== undefined && t.tensorContent.length === 4) return t.tensorContent.readFloatLE(0);
    if (t.floatVal?.length === 1) return t.floatVal[0];
  }
  if (t.dtype === 'DT_DOUBLE') {
    if (t.tensorContent !== undefined && t.tensorContent.length === 8) return t.tensorContent.readDoubleLE(0);
    if (t.doubleVal?.length === 1) return t.doubleVal[0];
  }
  return undefined;
}

function decodeValue(v: ValueObject): DecodedValue {
  const out: DecodedValue = { tag: v.tag ?? '', plugin: v.metadata?.pluginData?.pluginName ?? '' };
  const content = v.metadata?.pluginData?.content;
  if (content !== undefined && content.length > 0) out.content = content;
  if (v.simpleValue !== undefined) out.scalar = v.simpleValue;
  else if (v.tensor !== undefined) {
    const s = tensorScalar(v.tensor);
    if (s !== undefined) out.scalar = s;
  } else if (v.histo !== undefined) {
    const h = v.histo;
    out.histogram = {
      min: h.min ?? 0,
      max: h.max ?? 0,
      num: h.num ?? 0,
      sum: h.sum ?? 0,
      sumSquares: h.sumSquares ?? 0,
      bucketLimits: h.bucketLimit ?? [],
      buckets: h.bucket ?? [],
    };
  }
  return out;
}

/** Decodes one record's bytes as a tensorboard.Event. */
export function decodeEvent(data: Uint8Array): DecodedEvent {
  const type = eventProto();
  const obj = type.toObject(type.decode(data), {
    longs: Number,
    enums: String,
    bytes: Buffer,
    oneofs: true,
  }) as EventObject;
  const ev: DecodedEvent = {
    wallTime: obj.wallTime ?? 0,
    step: obj.step ?? 0,
    values: (obj.summary?.value ?? []).map(decodeValue),
  };
  if (obj.fileVersion !== undefined) ev.fileVersion = obj.fileVersion;
  return ev;
}

export function readEventFile(file: string): EventFileContents {
  const { records, trailingBytes } = splitRecords(fs.readFileSync(file), file);
  return { events: records.map(decodeEvent), trailingBytes };
}

/** Event files under `dir` (not recursive), oldest name first. */
export function eventFilesIn(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.includes('tfevents'))
    .sort()
    .map((f) => path.join(dir, f));
}

export interface ScalarPoint {
  step: number;
  value: number;
  wallTime: number;
}

/** Every scalar by tag, in file order. */
export function scalarsByTag(events: readonly DecodedEvent[]): Map<string, ScalarPoint[]> {
  const out = new Map<string, ScalarPoint[]>();
  for (const ev of events) {
    for (const v of ev.values) {
      if (v.scalar === undefined) continue;
      let list = out.get(v.tag);
      if (list === undefined) out.set(v.tag, (list = []));
      list.push({ step: ev.step, value: v.scalar, wallTime: ev.wallTime });
    }
  }
  return out;
}
