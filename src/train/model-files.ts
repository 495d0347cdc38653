/**
 * Saves and loads a LayersModel as TensorFlow.js's own format (model.json + weights.bin) on the
 * local file system. tfjs-node provides file:// handlers, but it is an optional peer dependency, so
 * the format is written here through tf.io's handler interface: the files are the same ones
 * `tf.loadLayersModel('file://.../model.json')` reads under tfjs-node.
 */
import * as fs from 'node:fs';
import { writeFileAtomic } from '../core';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

const WEIGHTS_FILE = 'weights.bin';

function toArrayBuffer(data: tf.io.WeightData | undefined): ArrayBuffer {
  if (data === undefined) return new ArrayBuffer(0);
  return Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data;
}

/** Writes `dir/model.json` and `dir/weights.bin`; each file goes to a temp name first, then renames. */
export async function saveModelToDir(model: tfl.LayersModel, dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = Buffer.from(toArrayBuffer(artifacts.weightData));
      const modelJson = {
        modelTopology: artifacts.modelTopology,
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
        convertedBy: 'ringtrain',
        weightsManifest: [{ paths: [`./${WEIGHTS_FILE}`], weights: artifacts.weightSpecs ?? [] }],
      };
      writeFileAtomic(path.join(dir, WEIGHTS_FILE), weights);
      writeFileAtomic(path.join(dir, 'model.json'), Buffer.from(JSON.stringify(modelJson)));
      return {
        modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.length },
      };
    }),
  );
}

/** Loads what saveModelToDir wrote, with tf.loadLayersModel over a file-reading handler. */
export async function loadModelFromDir(dir: string): Promise<tfl.LayersModel> {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const buffers = json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p))));
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return tfl.loadLayersModel({
    load: async () => ({ modelTopology: json.modelTopology, weightSpecs: specs, weightData }),
  });
}
