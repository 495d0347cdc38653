/**
 * Builds an ONNX graph node by node, and keeps track of each value's memory layout. TensorFlow.js
 * images are NHWC; ONNX's Conv and pooling take NCHW. Rather than transposing around every
 * convolution, an image value lives in the graph as NCHW (`nchw: true`) from the moment it
 * becomes an image, and is transposed back to TensorFlow's order only where the order of its
 * elements shows (flatten, reshape, dense on an image, the graph output).
 */
import { RingtrainError } from '../core';
import type { OnnxAttribute, OnnxGraph, OnnxNode, OnnxTensor, OnnxValueInfo } from './onnx-proto';

/** A value of the graph: its name, rank, and whether a rank-4 image is stored NCHW. */
export interface OnnxValue {
  name: string;
  rank: number;
  nchw: boolean;
}

export class OnnxGraphBuilder {
  private readonly nodes: OnnxNode[] = [];
  private readonly initializers: OnnxTensor[] = [];
  private readonly used = new Set<string>();

  /** A name not taken yet, from `base`. */
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  /** A constant tensor; returns its name. */
  constant(base: string, dims: readonly number[], data: Float32Array | BigInt64Array): string {
    const name = this.fresh(base);
    this.initializers.push({ name, dims, data });
    return name;
  }

  /** int64 constant (shapes, axes). */
  ints(base: string, values: readonly number[]): string {
    return this.constant(
      base,
      [values.length],
      BigInt64Array.from(values, (v) => BigInt(v)),
    );
  }

  /** float32 scalar constant. */
  scalar(base: string, value: number): string {
    return this.constant(base, [], Float32Array.of(value));
  }

  /** Adds one node with one output; returns the output's name. */
  node(op: string, inputs: readonly string[], base: string, attributes?: readonly OnnxAttribute[]): string {
    const output = this.fresh(base);
    this.nodes.push({ op, name: output, inputs, outputs: [output], attributes });
    return output;
  }

  /** Adds one node whose output takes a name reserved earlier with fresh (the graph's output). */
  nodeAs(op: string, inputs: readonly string[], output: string): void {
    this.nodes.push({ op, name: output, inputs, outputs: [output] });
  }

  /** The value in TensorFlow's element order (NHWC for images). */
  toTf(v: OnnxValue, base: string): OnnxValue {
    if (!v.nchw) return v;
    return {
      name: this.node('Transpose', [v.name], `${base}/to_nhwc`, [{ name: 'perm', ints: [0, 2, 3, 1] }]),
      rank: 4,
      nchw: false,
    };
  }

  /** A rank-4 value as NCHW (for Conv, pooling, per-channel batch norm). */
  toNchw(v: OnnxValue, base: string): OnnxValue {
    if (v.nchw || v.rank !== 4) return v;
    return {
      name: this.node('Transpose', [v.name], `${base}/to_nchw`, [{ name: 'perm', ints: [0, 3, 1, 2] }]),
      rank: 4,
      nchw: true,
    };
  }

  graph(name: string, inputs: OnnxValueInfo[], outputs: OnnxValueInfo[]): OnnxGraph {
    return { name, nodes: this.nodes, initializers: this.initializers, inputs, outputs };
  }

  get nodeCount(): number {
    return this.nodes.length;
  }
}

/** Activation functions by their tfjs names; each works on any layout (elementwise), softmax excepted. */
type ActivationOp = (g: OnnxGraphBuilder, v: OnnxValue, base: string) => OnnxValue;

const unary =
  (op: string, attributes?: OnnxAttribute[]): ActivationOp =>
  (g, v, base) => ({ ...v, name: g.node(op, [v.name], base, attributes) });

const alongLastAxis =
  (op: string): ActivationOp =>
  (g, v, base) => {
    const t = g.toTf(v, base);
    return { ...t, name: g.node(op, [t.name], base, [{ name: 'axis', i: -1 }]) };
  };

/** x * f(x), as swish and mish are written. */
const gated =
  (inner: (g: OnnxGraphBuilder, x: string, base: string) => string): ActivationOp =>
  (g, v, base) => ({ ...v, name: g.node('Mul', [v.name, inner(g, v.name, base)], base) });

export const ACTIVATION_OPS: Readonly<Record<string, ActivationOp>> = {
  linear: (_g, v) => v,
  relu: unary('Relu'),
  relu6: (g, v, base) => ({
    ...v,
    name: g.node('Clip', [v.name, g.scalar(`${base}/min`, 0), g.scalar(`${base}/max`, 6)], base),
  }),
  elu: unary('Elu', [{ name: 'alpha', f: 1 }]),
  // tfjs's SELU constants (as float32 they equal ONNX's defaults; written out so nothing depends on defaults).
  selu: unary('Selu', [
    { name: 'alpha', f: 1.6732632423543772 },
    { name: 'gamma', f: 1.0507009873554805 },
  ]),
  sigmoid: unary('Sigmoid'),
  hardSigmoid: unary('HardSigmoid', [
    { name: 'alpha', f: 0.2 },
    { name: 'beta', f: 0.5 },
  ]),
  tanh: unary('Tanh'),
  softplus: unary('Softplus'),
  softsign: unary('Softsign'),
  softmax: alongLastAxis('Softmax'),
  swish: gated((g, x, base) => g.node('Sigmoid', [x], `${base}/sigmoid`)),
  mish: gated((g, x, base) => g.node('Tanh', [g.node('Softplus', [x], `${base}/softplus`)], `${base}/tanh`)),
};

export function applyActivation(
  g: OnnxGraphBuilder,
  v: OnnxValue,
  activation: string,
  base: string,
  layer: string,
): OnnxValue {
  const op = ACTIVATION_OPS[activation];
  if (op === undefined) throw unsupported(layer, `activation '${activation}'`);
  return op(g, v, base);
}

/** Names the layer and what it uses that has no ONNX translation here, with the list of what has. */
export function unsupported(layer: string, what: string): RingtrainError {
  return new RingtrainError(
    'DATA_INVALID',
    `layer '${layer}' uses ${what}, which ringtrain cannot export to ONNX (activations it exports: ${Object.keys(ACTIVATION_OPS).join(', ')})`,
  );
}
