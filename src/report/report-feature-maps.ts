/**
 * Feature maps of any layers for any number of test images: what each channel of a layer
 * responds to, image by image (one row per image: the input, then the layer's channels). The
 * layers' outputs come from one forward pass of a model cut at those layers.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { RingtrainError } from '../core';
import { imageGrid, type GridImage } from './plot-image-grid';
import type { Raster } from './raster';

/** Channels drawn per image and layer (the first ones). */
export const MAX_MAPS = 16;
/** Images at most, so a grid stays readable. */
export const MAX_IMAGES = 32;
/** About how many screen pixels a map (or the input beside it) spans. */
const MAP_PIXELS = 48;

export interface FeatureMapRequest {
  /** Layer names, or ['all'] for every layer with height x width x channels outputs; [] = the first convolution. */
  layers: readonly string[];
  images: number;
}

export interface Sample {
  x: Float32Array;
  label?: number;
}

/** Layers whose output is a map (rank 4: batch, height, width, channels). */
function mapLayers(model: tfl.LayersModel): tfl.layers.Layer[] {
  return model.layers.filter(
    (l) => l.getClassName() !== 'InputLayer' && (l.output as tfl.SymbolicTensor).shape.length === 4,
  );
}

/** The requested layers, or an error naming the ones that have feature maps. */
export function resolveMapLayers(model: tfl.LayersModel, layers: readonly string[]): tfl.layers.Layer[] {
  const maps = mapLayers(model);
  if (layers.length === 0) return maps.filter((l) => l.getClassName() === 'Conv2D').slice(0, 1);
  if (layers.length === 1 && layers[0] === 'all') return maps;
  const names = maps.map((l) => l.name).join(', ') || 'none (this model has no convolutional layers)';
  return layers.map((name) => {
    const layer = model.layers.find((l) => l.name === name);
    if (layer === undefined)
      throw new RingtrainError(
        'CONFIG_INVALID',
        `--feature-maps: the model has no layer '${name}'; layers with feature maps: ${names}`,
      );
    const shape = (layer.output as tfl.SymbolicTensor).shape;
    if (!maps.includes(layer))
      throw new RingtrainError(
        'CONFIG_INVALID',
        `--feature-maps: layer '${name}' outputs shape [${shape.map((d) => d ?? 'batch').join(', ')}], not height x ` +
          `width x channels maps; layers with feature maps: ${names}`,
      );
    return layer;
  });
}

/** One plot per layer: a row per sample, the input image then up to MAX_MAPS channels. */
export function featureMapPlots(
  model: tfl.LayersModel,
  layers: readonly tfl.layers.Layer[],
  samples: readonly Sample[],
): { name: string; raster: Raster; caption: string; layer: string }[] {
  if (layers.length === 0 || samples.length === 0) return [];
  const cut = tfl.model({ inputs: model.inputs, outputs: layers.map((l) => l.output as tfl.SymbolicTensor) });
  const inShape = model.inputs[0]?.shape.slice(1).map((d) => d ?? 1) ?? [samples[0]?.x.length ?? 0];
  const batch = new Float32Array(samples.length * (samples[0] as Sample).x.length);
  samples.forEach((s, i) => batch.set(s.x, i * s.x.length));
  const outs = tf.tidy(() => {
    const y = cut.predict(tf.tensor(batch, [samples.length, ...inShape]));
    return (Array.isArray(y) ? y : [y]).map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array }));
  });
  return layers.map((layer, li) => {
    const { shape, data } = outs[li] as { shape: number[]; data: Float32Array };
    const [, h, w, c] = shape as [number, number, number, number];
    const n = Math.min(c, MAX_MAPS);
    const images: GridImage[] = [];
    samples.forEach((s, i) => {
      const side = Math.round(Math.sqrt(s.x.length));
      if (side * side === s.x.length)
        images.push({
          width: side,
          height: side,
          values: s.x,
          label: s.label === undefined ? `image ${i + 1}` : `label ${s.label}`,
          cell: Math.max(1, Math.round(MAP_PIXELS / side)),
        });
      for (let f = 0; f < n; f++) {
        const v = new Float32Array(h * w);
        for (let p = 0; p < h * w; p++) v[p] = data[(i * h * w + p) * c + f] as number;
        images.push({ width: w, height: h, values: v, label: i === 0 ? String(f) : undefined });
      }
    });
    const perRow = images.length / samples.length;
    const what = samples.length === 1 ? 'one test image' : `${samples.length} test images`;
    return {
      name: `feature-maps-${layer.name.replace(/[^A-Za-z0-9_.-]+/g, '_')}`,
      layer: layer.name,
      raster: imageGrid({
        title: `${layer.name} feature maps of ${what} (${h}x${w}, ${n} of ${c} channels)`,
        images,
        cell: Math.max(1, Math.round(MAP_PIXELS / Math.max(h, w))),
        columns: perRow,
        colormap: 'viridis',
        sharedScale: false,
      }),
      caption:
        `${layer.name} (${layer.getClassName()}) for the first ${what}, one row each: the input, then channels ` +
        `0 to ${n - 1}, each map on its own scale (dark low, yellow high).`,
    };
  });
}
