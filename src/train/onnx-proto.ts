/**
 * The subset of ONNX's protobuf schema (onnx/onnx.proto, IR version 8) an inference graph of
 * dense, convolution, pooling and normalisation layers needs, encoded by hand with protobufjs's
 * Writer: field numbers below are the schema's. Only encoding: ringtrain writes ONNX files and
 * a real runtime (onnxruntime-node in the tests) reads them.
 */
import { Writer } from 'protobufjs';

/** IR version 8 (2021-07-30) with the default domain at opset 13: every ONNX Runtime since 1.10 loads it. */
export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 13;

/** TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;

export type OnnxAttribute = { name: string } & (
  { f: number } | { i: number } | { s: string } | { ints: readonly number[] } | { floats: readonly number[] }
);

export interface OnnxNode {
  op: string;
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: readonly OnnxAttribute[];
}

export interface OnnxTensor {
  name: string;
  dims: readonly number[];
  /** float32 or int64 values. */
  data: Float32Array | BigInt64Array;
}

/** A graph input or output: float32, dims as numbers or a named free dimension ('batch'). */
export interface OnnxValueInfo {
  name: string;
  dims: readonly (number | string)[];
}

export interface OnnxGraph {
  name: string;
  nodes: readonly OnnxNode[];
  initializers: readonly OnnxTensor[];
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
}

/** Wire types: 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit. */
const tag = (field: number, wire: number): number => (field << 3) | wire;

function message(w: Writer, field: number, write: (inner: Writer) => void): void {
  w.uint32(tag(field, 2)).fork();
  write(w);
  w.ldelim();
}

// AttributeProto: name 1, f 2, i 3, s 4, floats 7, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, FLOATS 6, INTS 7).
function writeAttribute(w: Writer, a: OnnxAttribute): void {
  w.uint32(tag(1, 2)).string(a.name);
  if ('f' in a) w.uint32(tag(2, 5)).float(a.f).uint32(tag(20, 0)).int32(1);
  else if ('i' in a) w.uint32(tag(3, 0)).int64(a.i).uint32(tag(20, 0)).int32(2);
  else if ('s' in a) w.uint32(tag(4, 2)).bytes(Buffer.from(a.s, 'utf8')).uint32(tag(20, 0)).int32(3);
  else if ('floats' in a) {
    for (const v of a.floats) w.uint32(tag(7, 5)).float(v);
    w.uint32(tag(20, 0)).int32(6);
  } else {
    for (const v of a.ints) w.uint32(tag(8, 0)).int64(v);
    w.uint32(tag(20, 0)).int32(7);
  }
}

// NodeProto: input 1, output 2, name 3, op_type 4, attribute 5.
function writeNode(w: Writer, n: OnnxNode): void {
  for (const i of n.inputs) w.uint32(tag(1, 2)).string(i);
  for (const o of n.outputs) w.uint32(tag(2, 2)).string(o);
  w.uint32(tag(3, 2)).string(n.name);
  w.uint32(tag(4, 2)).string(n.op);
  for (const a of n.attributes ?? []) message(w, 5, (inner) => writeAttribute(inner, a));
}

// TensorProto: dims 1, data_type 2, name 8, raw_data 9 (little-endian, as the schema requires).
function writeTensor(w: Writer, t: OnnxTensor): void {
  for (const d of t.dims) w.uint32(tag(1, 0)).int64(d);
  w.uint32(tag(2, 0)).int32(t.data instanceof Float32Array ? ONNX_FLOAT : ONNX_INT64);
  w.uint32(tag(8, 2)).string(t.name);
  w.uint32(tag(9, 2)).bytes(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

// ValueInfoProto: name 1, type 2; TypeProto: tensor_type 1; Tensor: elem_type 1, shape 2;
// TensorShapeProto: dim 1; Dimension: dim_value 1, dim_param 2.
function writeValueInfo(w: Writer, v: OnnxValueInfo): void {
  w.uint32(tag(1, 2)).string(v.name);
  message(w, 2, (type) =>
    message(type, 1, (tensor) => {
      tensor.uint32(tag(1, 0)).int32(ONNX_FLOAT);
      message(tensor, 2, (shape) => {
        for (const d of v.dims)
          message(shape, 1, (dim) =>
            typeof d === 'number' ? dim.uint32(tag(1, 0)).int64(d) : dim.uint32(tag(2, 2)).string(d),
          );
      });
    }),
  );
}

// GraphProto: node 1, name 2, initializer 5, input 11, output 12.
function writeGraph(w: Writer, g: OnnxGraph): void {
  for (const n of g.nodes) message(w, 1, (inner) => writeNode(inner, n));
  w.uint32(tag(2, 2)).string(g.name);
  for (const t of g.initializers) message(w, 5, (inner) => writeTensor(inner, t));
  for (const v of g.inputs) message(w, 11, (inner) => writeValueInfo(inner, v));
  for (const v of g.outputs) message(w, 12, (inner) => writeValueInfo(inner, v));
}

/** ModelProto: ir_version 1, producer_name 2, producer_version 3, graph 7, opset_import 8 (domain 1, version 2). */
export function encodeOnnxModel(graph: OnnxGraph, producerVersion: string): Uint8Array {
  const w = Writer.create();
  w.uint32(tag(1, 0)).int64(ONNX_IR_VERSION);
  w.uint32(tag(2, 2)).string('ringtrain');
  w.uint32(tag(3, 2)).string(producerVersion);
  message(w, 7, (inner) => writeGraph(inner, graph));
  message(w, 8, (inner) => inner.uint32(tag(1, 2)).string('').uint32(tag(2, 0)).int64(ONNX_OPSET));
  return w.finish();
}
