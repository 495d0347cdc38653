/**
 * A trained LayersModel as an ONNX model (opset 13), the format serving stacks read (ONNX
 * Runtime, TensorRT, OpenVINO, Triton). The graph is walked from the model's output back to its
 * input through tfjs's own node records, so Sequential and functional models (the ResNet's
 * shortcuts) translate alike. The ONNX model computes what `model.predict` does: it takes the
 * normalised rows the tfjs model takes (preprocess.json beside the model says how to get them)
 * and returns the logits, or the regression values.
 *
 * Every layer the model has is checked first: a model with layers that have no translation is
 * refused with all of their names, before anything is written.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { RingtrainError } from '../core';
import { OnnxGraphBuilder, type OnnxValue } from './onnx-graph';
import { LAYER_CONVERTERS } from './onnx-layers';
import { ONNX_OPSET, encodeOnnxModel } from './onnx-proto';

export interface OnnxExport {
  bytes: Uint8Array;
  nodes: number;
  opset: number;
  /** Input and output names and their shapes (the batch dimension named 'batch'). */
  input: { name: string; dims: (number | string)[] };
  output: { name: string; dims: (number | string)[] };
}

export const ONNX_INPUT = 'input';
export const ONNX_OUTPUT = 'output';

/** Layers whose class has no translation, as "name (Class)". */
export function unsupportedLayers(model: tfl.LayersModel): string[] {
  return model.layers
    .filter((l) => l.getClassName() !== 'InputLayer' && LAYER_CONVERTERS[l.getClassName()] === undefined)
    .map((l) => `${l.name} (${l.getClassName()})`);
}

export function modelToOnnx(model: tfl.LayersModel): OnnxExport {
  const refused = unsupportedLayers(model);
  if (refused.length > 0) {
    throw new RingtrainError(
      'DATA_INVALID',
      `cannot export to ONNX: no translation for layer${refused.length === 1 ? '' : 's'} ${refused.join(', ')}; ringtrain exports ${Object.keys(LAYER_CONVERTERS).join(', ')}`,
    );
  }
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new RingtrainError(
      'DATA_INVALID',
      `cannot export to ONNX: the model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; ringtrain exports models with one of each`,
    );
  }
  const g = new OnnxGraphBuilder();
  const input = model.inputs[0] as tfl.SymbolicTensor;
  const inputDims = ['batch', ...input.shape.slice(1).map((d) => d ?? 'unknown')];
  // Reserved first, so no layer's node takes these names.
  g.fresh(ONNX_INPUT);
  g.fresh(ONNX_OUTPUT);
  const values = new Map<number, OnnxValue>([[input.id, { name: ONNX_INPUT, rank: input.shape.length, nchw: false }]]);
  const out = valueOf(g, model.outputs[0] as tfl.SymbolicTensor, values);
  const last = g.toTf(out, 'output');
  g.nodeAs('Identity', [last.name], ONNX_OUTPUT);
  const outputShape = (model.outputs[0] as tfl.SymbolicTensor).shape;
  const outputDims = ['batch', ...outputShape.slice(1).map((d) => d ?? 'unknown')];
  const graph = g.graph(model.name, [{ name: ONNX_INPUT, dims: inputDims }], [{ name: ONNX_OUTPUT, dims: outputDims }]);
  return {
    bytes: encodeOnnxModel(graph, tfl.version_layers),
    nodes: g.nodeCount,
    opset: ONNX_OPSET,
    input: { name: ONNX_INPUT, dims: inputDims },
    output: { name: ONNX_OUTPUT, dims: outputDims },
  };
}

/** The ONNX value of a symbolic tensor, translating the layer that makes it (and what it reads) once. */
function valueOf(g: OnnxGraphBuilder, t: tfl.SymbolicTensor, values: Map<number, OnnxValue>): OnnxValue {
  const known = values.get(t.id);
  if (known !== undefined) return known;
  const layer = t.sourceLayer as tfl.layers.Layer;
  const node = layer.inboundNodes[t.nodeIndex];
  if (node === undefined)
    throw new RingtrainError(
      'DATA_INVALID',
      `cannot export to ONNX: layer '${layer.name}' has no record of its inputs`,
    );
  if (node.outputTensors.length !== 1)
    throw new RingtrainError(
      'DATA_INVALID',
      `cannot export to ONNX: layer '${layer.name}' has ${node.outputTensors.length} outputs`,
    );
  const inputs = node.inputTensors.map((x) => valueOf(g, x, values));
  const convert = LAYER_CONVERTERS[layer.getClassName()];
  if (convert === undefined)
    throw new RingtrainError(
      'DATA_INVALID',
      `cannot export to ONNX: no translation for layer ${layer.name} (${layer.getClassName()})`,
    );
  const base = t.nodeIndex === 0 ? layer.name : `${layer.name}_${t.nodeIndex}`;
  const v = convert(g, layer, inputs, base);
  values.set(t.id, v);
  return v;
}
