/**
 * What the saved model itself can show. For a convolutional model: the first convolution's
 * filters, and its feature maps for one test image (what each filter responds to). For a dense
 * first layer over a square image (the MNIST MLP): each hidden unit's incoming weights as an
 * image, the "templates" the tutorials show. Runs on whatever tfjs backend is active.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { imageGrid, type GridImage } from './plot-image-grid';
import type { Raster } from './raster';

/** Filters and maps shown at most (the first ones, in layer order). */
export const MAX_FILTERS = 32;
export const MAX_UNITS = 32;

export interface ModelViews {
  /** Named plots: file stem -> raster and caption. */
  plots: { name: string; raster: Raster; caption: string }[];
  notes: string[];
}

function channelMean(kernel: Float32Array, kh: number, kw: number, cin: number, cout: number, f: number): Float32Array {
  const out = new Float32Array(kh * kw);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      let s = 0;
      for (let c = 0; c < cin; c++) s += kernel[((y * kw + x) * cin + c) * cout + f] as number;
      out[y * kw + x] = s / cin;
    }
  }
  return out;
}

/**
 * @param sample one test sample as the model's input row (e.g. 784 floats)
 * @param label its true class, shown in the caption
 */
export function modelViews(model: tfl.LayersModel, sample: Float32Array | undefined, label: number | undefined): ModelViews {
  const plots: ModelViews['plots'] = [];
  const notes: string[] = [];
  const conv = model.layers.find((l) => l.getClassName() === 'Conv2D');
  if (conv !== undefined) {
    const kernel = conv.getWeights()[0];
    if (kernel !== undefined && kernel.shape.length === 4) {
      const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
      const k = kernel.dataSync() as Float32Array;
      const n = Math.min(cout, MAX_FILTERS);
      const filters: GridImage[] = Array.from({ length: n }, (_, f) => ({ width: kw, height: kh, values: channelMean(k, kh, kw, cin, cout, f), label: String(f) }));
      plots.push({
        name: 'filters',
        raster: imageGrid({ title: `${conv.name}: ${n} of ${cout} filters (${kh}x${kw}${cin > 1 ? `, mean of ${cin} channels` : ''})`, images: filters, cell: 14, columns: 8, colormap: 'diverging', sharedScale: true }),
        caption: `First convolution (${conv.name}) filters: blue negative, red positive, one shared scale.`,
      });
    }
    if (sample !== undefined) {
      const sub = tfl.model({ inputs: model.inputs, outputs: conv.output as tfl.SymbolicTensor });
      const inShape = model.inputs[0]?.shape.slice(1).map((d) => d ?? 1) ?? [sample.length];
      const maps = tf.tidy(() => sub.predict(tf.tensor(sample, [1, ...inShape])) as tf.Tensor);
      const [, h, w, c] = maps.shape as [number, number, number, number];
      const data = maps.dataSync() as Float32Array;
      maps.dispose();
      const n = Math.min(c, MAX_FILTERS);
      const images: GridImage[] = Array.from({ length: n }, (_, f) => {
        const v = new Float32Array(h * w);
        for (let i = 0; i < h * w; i++) v[i] = data[i * c + f] as number;
        return { width: w, height: h, values: v, label: String(f) };
      });
      const side = Math.round(Math.sqrt(sample.length));
      const input: GridImage[] = side * side === sample.length ? [{ width: side, height: side, values: sample, label: label === undefined ? 'input' : `label ${label}` }] : [];
      plots.push({
        name: 'feature-maps',
        raster: imageGrid({ title: `${conv.name} feature maps of one test image (${h}x${w}, ${n} of ${c})`, images: [...input, ...images], cell: 3, columns: 9, colormap: 'viridis', sharedScale: false }),
        caption: `The first test image${label === undefined ? '' : ` (label ${label})`} and the output of ${conv.name} after its activation, each map on its own scale (dark low, yellow high).`,
      });
    } else {
      notes.push('No test image could be loaded, so the feature maps are left out.');
    }
    return { plots, notes };
  }
  const dense = model.layers.find((l) => l.getClassName() === 'Dense');
  const kernel = dense?.getWeights()[0];
  if (dense !== undefined && kernel !== undefined && kernel.shape.length === 2) {
    const [inputs, units] = kernel.shape as [number, number];
    const side = Math.round(Math.sqrt(inputs));
    if (side * side === inputs) {
      const k = kernel.dataSync() as Float32Array;
      const n = Math.min(units, MAX_UNITS);
      const images: GridImage[] = Array.from({ length: n }, (_, u) => {
        const v = new Float32Array(inputs);
        for (let i = 0; i < inputs; i++) v[i] = k[i * units + u] as number;
        return { width: side, height: side, values: v, label: String(u) };
      });
      plots.push({
        name: 'first-layer-weights',
        raster: imageGrid({ title: `${dense.name}: incoming weights of ${n} of ${units} units as ${side}x${side} images`, images, cell: 3, columns: 8, colormap: 'diverging', sharedScale: false }),
        caption: `Each hidden unit of ${dense.name} weighs the input pixels: red pixels push it up, blue down (each unit on its own scale).`,
      });
    } else {
      notes.push(`The first layer (${dense.name}) takes ${inputs} inputs, not a square image, so its weights are not drawn as images.`);
    }
  }
  return { plots, notes };
}
