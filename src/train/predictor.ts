/**
 * A trained model ready to answer: the LayersModel from an exported directory plus the
 * preprocessing it was trained with (preprocess.json), so callers hand over raw values (pixels
 * 0..255, CSV columns as written) and get classes or regression values back. Shared by
 * `ringtrain eval`, `predict` and `serve`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { RingtrainError } from '../core';
import { applyPreprocess, loadPreprocess, type Preprocess } from '../data';
import { loadModelFromDir } from './model-files';
import { sampleShape } from './models';

export interface Prediction {
  /** Classification: the arg-max class id... */
  class?: number;
  /** ...its name when the training labels were text... */
  label?: string;
  /** ...and the softmax probabilities of every class. */
  probabilities?: number[];
  /** Regression: the predicted values. */
  values?: number[];
}

export class Predictor {
  private constructor(
    readonly model: tfl.LayersModel,
    readonly preprocess: Preprocess,
    /** False when the model directory had no preprocess.json (inputs are used as given). */
    readonly hasPreprocess: boolean,
  ) {}

  static async load(dir: string): Promise<Predictor> {
    let model: tfl.LayersModel;
    try {
      model = await loadModelFromDir(dir);
    } catch (e) {
      throw new RingtrainError(
        'DATA_INVALID',
        `cannot load a model from ${dir}: ${(e as Error).message}; --model takes the model/ directory of a run (model.json + weights.bin)`,
      );
    }
    const saved = loadPreprocess(dir);
    const shape = sampleShape(model);
    const features = shape.reduce((a, b) => a * b, 1);
    const outputs = (model.outputs[0]?.shape[1] as number | null) ?? 1;
    const p: Preprocess = saved ?? {
      kind: 'tabular',
      task: 'classification',
      features,
      classes: outputs,
      scale: 1,
      mean: [0],
      std: [1],
    };
    if (p.features !== features) {
      throw new RingtrainError(
        'DATA_INVALID',
        `${dir}: preprocess.json describes ${p.features} features but the model takes ${features} (${JSON.stringify(shape)}): are they from the same run?`,
      );
    }
    return new Predictor(model, p, saved !== undefined);
  }

  get features(): number {
    return this.preprocess.features;
  }

  /** Model outputs for `rows` already-normalized rows (logits, or regression values). */
  outputs(x: Float32Array, rows: number): Float32Array {
    return tf.tidy(() => {
      const xs = tf.tensor(x, [rows, ...sampleShape(this.model)]);
      const out = this.model.predict(xs) as tf.Tensor2D;
      const y = this.preprocess.task === 'classification' ? tf.softmax(out) : out;
      return y.dataSync() as Float32Array;
    });
  }

  /** Predictions for raw rows (`rows * features` values as the data file holds them). */
  predict(raw: Float32Array, rows: number): Prediction[] {
    if (raw.length !== rows * this.features) {
      throw new RingtrainError(
        'DATA_INVALID',
        `got ${raw.length} values for ${rows} rows, expected ${rows * this.features} (${this.features} per row)`,
      );
    }
    const y = this.outputs(applyPreprocess(this.preprocess, raw.slice()), rows);
    const k = y.length / rows;
    const out: Prediction[] = [];
    for (let r = 0; r < rows; r++) {
      const row = Array.from(y.subarray(r * k, (r + 1) * k));
      if (this.preprocess.task === 'regression') {
        out.push({ values: row });
        continue;
      }
      let best = 0;
      for (let j = 1; j < k; j++) if ((row[j] as number) > (row[best] as number)) best = j;
      const p: Prediction = { class: best, probabilities: row };
      const name = this.preprocess.classNames?.[best];
      if (name !== undefined) p.label = name;
      out.push(p);
    }
    return out;
  }

  dispose(): void {
    this.model.dispose();
  }
}
