/**
 * `ringtrain eval` and `ringtrain predict`: use an exported model without training. Both load
 * the model directory with the preprocessing it was trained with (train/predictor.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../compute';
import { loadJob } from '../config';
import { DIRECTORY_USES, makeDirectory } from '../core';
import { loadDataset, readPredictInput, type Split } from '../data';
import {
  Predictor,
  classificationReport,
  confusionRows,
  evaluateRange,
  evaluateRegressionRange,
  quantizeModelDir,
  rSquared,
  type ClassificationReport,
} from '../train';
import { formatClassReport } from './class-report';
import { pruneExport } from './prune-export';
import { intFlag, parseArgs, usage } from './args';
import { exportOnnx } from './export-onnx';

export function modelDirOf(flag: string | undefined, command: string): string {
  if (flag === undefined) throw usage(`${command} needs --model DIR (a run's model/ directory)`);
  const dir = path.resolve(flag);
  if (!fs.existsSync(path.join(dir, 'model.json'))) {
    const inner = path.join(dir, 'model', 'model.json');
    if (fs.existsSync(inner)) return path.dirname(inner);
    throw usage(`--model ${flag}: no model.json there; give a run's model/ directory (or the run directory)`);
  }
  return dir;
}

interface EvalResult {
  samples: number;
  loss: number;
  accuracy?: number;
  mse?: number;
  mae?: number;
  r2?: number;
  /** Classification: per-class precision, recall, F1 and the confusion matrix. */
  report?: ClassificationReport;
}

/** Test-set metrics of the model in `dir` on `data.test`. */
async function evaluateDir(dir: string, test: Split): Promise<EvalResult> {
  const predictor = await Predictor.load(dir);
  try {
    if (test.targets !== undefined) {
      const s = evaluateRegressionRange(predictor.model, test, 0, test.count);
      const r2 = s.regression === undefined ? NaN : rSquared(s.regression, s.count);
      return {
        samples: s.count,
        loss: s.lossSum / s.count,
        mse: s.sqErr / (s.count * test.classes),
        mae: s.absErr / (s.count * test.classes),
        r2,
      };
    }
    const s = evaluateRange(predictor.model, test, 0, test.count);
    const classes = Math.round(Math.sqrt(s.confusion?.length ?? 0));
    const report = classificationReport(confusionRows(s.confusion ?? [], classes), predictor.preprocess.classNames);
    return { samples: s.count, loss: s.lossSum / s.count, accuracy: s.correct / s.count, report };
  } finally {
    predictor.dispose();
  }
}

const describe = (r: EvalResult): string =>
  r.accuracy !== undefined
    ? `acc ${(100 * r.accuracy).toFixed(2)}%`
    : `mse ${r.mse?.toFixed(4)} mae ${r.mae?.toFixed(4)} r2 ${r.r2?.toFixed(4)}`;

/** The job a model was trained with: JOB_FILE, else the run's job.json next to model/, else defaults. */
async function testSplitFor(
  dir: string,
  positional: string[],
  sets: string[],
): Promise<{ test: Split; dataset: string }> {
  if (positional.length > 1) throw usage(`expected at most one job file, got ${positional.join(' ')}`);
  const runJob = path.join(path.dirname(dir), 'job.json');
  const spec = loadJob({ file: positional[0] ?? (fs.existsSync(runJob) ? runJob : undefined), sets });
  await selectBackend(spec.backend);
  return { test: loadDataset(spec.data).test, dataset: spec.data.dataset };
}

/** `ringtrain eval --model DIR [JOB_FILE] [--set ...] [--json]`: test-set metrics of a saved model. */
export async function evalCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ['model'], ['json']);
  const dir = modelDirOf(args.flags.get('model'), 'eval');
  const { test, dataset } = await testSplitFor(dir, args.positional, args.sets);
  const started = process.hrtime.bigint();
  const r = await evaluateDir(dir, test);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (args.flags.has('json')) {
    const { report, ...rest } = r;
    const perClass =
      report === undefined
        ? {}
        : { perClass: report.classes, macro: report.macro, weighted: report.weighted, confusion: report.confusion };
    process.stdout.write(`${JSON.stringify({ model: dir, ...rest, ...perClass })}\n`);
    return 0;
  }
  process.stdout.write(
    `test loss ${r.loss.toFixed(4)} ${describe(r)} on ${r.samples} samples (${dataset}) in ${seconds.toFixed(1)} s, model ${dir}\n`,
  );
  if (r.report !== undefined) process.stdout.write(`${formatClassReport(r.report).join('\n')}\n`);
  return 0;
}

/**
 * `ringtrain export --model DIR --quantize float16|uint8 [--out DIR2] [JOB_FILE]`: a copy of the
 * model with quantized weights, and the test metrics before and after quantization.
 * `--format onnx` writes the model as an ONNX file instead (export-onnx.ts).
 */
export async function exportCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ['model', 'quantize', 'out', 'format', 'prune']);
  const dir = modelDirOf(args.flags.get('model'), 'export');
  const format = args.flags.get('format') ?? 'tfjs';
  if (format !== 'tfjs' && format !== 'onnx') throw usage(`--format must be tfjs or onnx, got '${format}'`);
  if (format === 'onnx') {
    if (args.flags.has('quantize'))
      throw usage(
        '--quantize applies to the tfjs format; export --format onnx writes float32 weights (drop --quantize)',
      );
    if (args.flags.has('prune'))
      throw usage(
        '--prune writes a tfjs model: prune first (export --prune S --out DIR2), then export DIR2 --format onnx',
      );
    if (args.positional.length > 0)
      throw usage(`export --format onnx takes no job file, got ${args.positional.join(' ')}`);
    return exportOnnx(dir, args.flags.get('out'));
  }
  const dtype = args.flags.get('quantize');
  if (args.flags.has('prune')) {
    const { test } = await testSplitFor(dir, args.positional, args.sets);
    return pruneExport({
      dir,
      sparsity: args.flags.get('prune') ?? '',
      dtype,
      out: args.flags.get('out'),
      test,
      evaluate: evaluateDir,
      describe,
    });
  }
  if (dtype !== 'float16' && dtype !== 'uint8')
    throw usage(`export needs --format onnx, --prune S or --quantize float16|uint8, got '${dtype ?? ''}'`);
  const out = path.resolve(args.flags.get('out') ?? `${dir}-${dtype}`);
  if (out === dir) throw usage('--out must differ from --model: the float32 model is kept');
  const { test } = await testSplitFor(dir, args.positional, args.sets);
  makeDirectory(out, DIRECTORY_USES.quantized);
  const sizes = quantizeModelDir(dir, out, dtype);
  const before = await evaluateDir(dir, test);
  const after = await evaluateDir(out, test);
  const delta =
    before.accuracy !== undefined
      ? `${(100 * ((after.accuracy as number) - before.accuracy)).toFixed(2)} points`
      : `mse ${((after.mse as number) - (before.mse as number)).toExponential(2)}`;
  process.stdout.write(
    [
      `weights   bytes        test (${test.count} samples)`,
      `float32   ${String(sizes.before).padEnd(12)} loss ${before.loss.toFixed(4)} ${describe(before)}`,
      `${dtype.padEnd(9)} ${String(sizes.after).padEnd(12)} loss ${after.loss.toFixed(4)} ${describe(after)}  (${delta})`,
      `ringtrain: quantized model in ${out}`,
    ].join('\n') + '\n',
  );
  return 0;
}

/**
 * `ringtrain predict --model DIR INPUT [--limit N]`: one JSON line per input row, from an IDX
 * images file, a CSV or a JSON file of raw rows.
 */
export async function predictCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ['model', 'limit']);
  const dir = modelDirOf(args.flags.get('model'), 'predict');
  if (args.positional.length !== 1)
    throw usage('predict needs exactly one input file: IDX images (as the dataset ships them), .csv or .json rows');
  await selectBackend('auto');
  const predictor = await Predictor.load(dir);
  const input = readPredictInput(path.resolve(args.positional[0] as string), predictor.preprocess);
  const limit = Math.min(input.rows, intFlag(args, 'limit', 1, Number.MAX_SAFE_INTEGER) ?? input.rows);
  const f = predictor.features;
  const chunk = 1000;
  for (let start = 0; start < limit; start += chunk) {
    const rows = Math.min(chunk, limit - start);
    const preds = predictor.predict(input.x.subarray(start * f, (start + rows) * f), rows);
    const lines = preds.map((p, i) =>
      JSON.stringify({ index: start + i, ...p, probabilities: p.probabilities?.map((v) => Number(v.toPrecision(4))) }),
    );
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  predictor.dispose();
  return 0;
}
