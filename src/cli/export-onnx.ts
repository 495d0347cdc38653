/**
 * `ringtrain export --model DIR --format onnx [--out FILE]`: the saved model as one ONNX file
 * (train/onnx-export.ts), next to the model directory unless --out says otherwise.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../compute';
import { writeFileAtomic } from '../core';
import { Predictor, modelToOnnx } from '../train';
import { usage } from './args';

export async function exportOnnx(dir: string, outFlag: string | undefined): Promise<number> {
  const out = path.resolve(outFlag ?? `${dir}.onnx`);
  if (fs.existsSync(out) && fs.statSync(out).isDirectory())
    throw usage(
      `--out ${outFlag ?? out} is a directory; give the ONNX file's name, e.g. --out ${path.join(out, 'model.onnx')}`,
    );
  await selectBackend('auto');
  const predictor = await Predictor.load(dir);
  try {
    const onnx = modelToOnnx(predictor.model);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    writeFileAtomic(out, onnx.bytes);
    const shape = (d: (number | string)[]): string => `[${d.join(', ')}]`;
    const p = predictor.preprocess;
    const inputNote = predictor.hasPreprocess
      ? `normalised rows: (raw x ${p.scale} - mean) / std with the mean and std in ${path.join(dir, 'preprocess.json')}`
      : 'the rows as the model was trained on them';
    process.stdout.write(
      [
        `ringtrain: ONNX model (opset ${onnx.opset}, ${onnx.nodes} nodes, ${onnx.bytes.length} bytes) in ${out}`,
        `  input  '${onnx.input.name}' ${shape(onnx.input.dims)} float32: ${inputNote}`,
        `  output '${onnx.output.name}' ${shape(onnx.output.dims)} float32: ${p.task === 'regression' ? 'the regression values' : 'logits (softmax gives the probabilities)'}`,
      ].join('\n') + '\n',
    );
    return 0;
  } finally {
    predictor.dispose();
  }
}
