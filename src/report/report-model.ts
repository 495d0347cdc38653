/**
 * What the saved model itself can show. For a convolutional model: the first convolution's
 * filters, and feature maps (report-feature-maps.ts) of the first convolution or of any listed
 * layers for the first test images. For a dense
 * first layer over a square image (the MNIST MLP): each hidden unit's incoming weights as an
 * image, the "templates" the tutorials show. Runs on whatever tfjs backend is active.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { imageGrid, type GridImage } from './plot-image-grid';
import { featureMapPlots, resolveMapLayers, type FeatureMapRequest, type Sample } from './report-feature-maps';
import type { Raster } from './raster';

/** Filters and maps shown at most (the first ones, in layer order). */
export const MAX_FILTERS = 32;
export const MAX_UNITS = 32;

export interface ModelViews {
  /** Named plots: file stem -> raster and caption. */
  plots: { name: string; raster: Raster; caption: string; layer?: string }[];
  notes: string[];
}

function filterPlots(conv: tfl.layers.Layer): ModelViews['plots'] {
  const kernel = conv.getWeights()[0];
  if (kernel === undefined || kernel.shape.length !== 4) return [];
  const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
  const k = kernel.dataSync() as Float32Array;
  const n = Math.min(cout, MAX_FILTERS);
  const filters: GridImage[] = Array.from({ length: n }, (_, f) => ({
    width: kw,
    height: kh,
    values: channelMean(k, kh, kw, cin, cout, f),
    label: String(f),
  }));
  return [
    {
      name: 'filters',
      raster: imageGrid({
        title: `${conv.name}: ${n} of ${cout} filters (${kh}x${kw}${cin > 1 ? `, mean of ${cin} channels` : ''})`,
        images: filters,
        cell: 14,
        columns: 8,
        colormap: 'diverging',
        sharedScale: true,
      }),
      caption: `First convolution (${conv.name}) filters: blue negative, red positive, one shared scale.`,
    },
  ];
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
 * @param samples the first test samples as the model's input rows (e.g. 784 floats), with their classes
 * @param request which layers' feature maps to draw ([] = the first convolution's)
 */
export function modelViews(
  model: tfl.LayersModel,
  samples: readonly Sample[],
  request: FeatureMapRequest = { layers: [], images: 1 },
): ModelViews {
  const plots: ModelViews['plots'] = [];
  const notes: string[] = [];
  const conv = model.layers.find((l) => l.getClassName() === 'Conv2D');
  if (conv !== undefined) plots.push(...filterPlots(conv));
  const layers = resolveMapLayers(model, request.layers);
  if (layers.length > 0 && samples.length === 0)
    notes.push('No test image could be loaded, so the feature maps are left out.');
  for (const p of featureMapPlots(model, layers, samples))
    plots.push({ ...p, name: request.layers.length === 0 ? 'feature-maps' : p.name });
  if (request.layers.length > 0 && layers.length === 0)
    notes.push('--feature-maps all: this model has no layer with height x width x channels outputs.');
  if (conv !== undefined) return { plots, notes };
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
        raster: imageGrid({
          title: `${dense.name}: incoming weights of ${n} of ${units} units as ${side}x${side} images`,
          images,
          cell: 3,
          columns: 8,
          colormap: 'diverging',
          sharedScale: false,
        }),
        caption: `Each hidden unit of ${dense.name} weighs the input pixels: red pixels push it up, blue down (each unit on its own scale).`,
      });
    } else {
      notes.push(
        `The first layer (${dense.name}) takes ${inputs} inputs, not a square image, so its weights are not drawn as images.`,
      );
    }
  }
  return { plots, notes };
}
