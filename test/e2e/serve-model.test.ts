/**
 * A trained model used through the CLI: eval reproduces the run's reported accuracy, predict
 * classifies an IDX file and a JSON file, export quantizes and reports accuracy after
 * quantization, export --format onnx runs in ONNX Runtime, eval reports per class, and serve
 * answers POST /predict with bounded input and clear 4xx errors.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { defaultMnistDir } from '../../src/data';
import { QUICK, runCli, startCli, tempDir, waitFor } from './cli';

let run: string | undefined;

/** One quick training run shared by the tests below. */
async function trainedRun(): Promise<string> {
  if (run !== undefined) return run;
  const out = tempDir('serve');
  const r = await runCli(['launch', '--nproc', '2', '--set', ...QUICK, 'train.epochs=1', '--out', out], {
    timeoutMs: 120_000,
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  run = out;
  return out;
}

function valAccuracy(out: string): number {
  const lines = fs
    .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { split: string; accuracy: number });
  return lines.filter((l) => l.split === 'val').pop()!.accuracy;
}

/** The first `n` MNIST test images as raw 0..255 rows, and their labels. */
function rawTestImages(n: number): { rows: number[][]; labels: number[] } {
  const img = fs.readFileSync(path.join(defaultMnistDir(), 't10k-images-idx3-ubyte'));
  const lab = fs.readFileSync(path.join(defaultMnistDir(), 't10k-labels-idx1-ubyte'));
  const rows = Array.from({ length: n }, (_, i) => Array.from(img.subarray(16 + i * 784, 16 + (i + 1) * 784)));
  return { rows, labels: Array.from(lab.subarray(8, 8 + n)) };
}

test("eval --model reproduces the accuracy the run reported, from the run's own job.json", async () => {
  const out = await trainedRun();
  const r = await runCli(['eval', '--model', path.join(out, 'model'), '--json'], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const got = JSON.parse(r.stdout) as { samples: number; accuracy: number };
  assert.equal(got.samples, 1000);
  assert.ok(Math.abs(got.accuracy - valAccuracy(out)) < 1e-9, `eval ${got.accuracy} vs reported ${valAccuracy(out)}`);
  const human = await runCli(['eval', '--model', out], { timeoutMs: 60_000 });
  assert.match(
    human.stdout,
    new RegExp(`^test loss \\d\\.\\d{4} acc ${(100 * got.accuracy).toFixed(2)}% on 1000 samples \\(mnist\\)`),
  );
});

test('predict gives the same classes for the IDX test file and for the same rows as JSON', async () => {
  const out = await trainedRun();
  const idx = await runCli(
    [
      'predict',
      '--model',
      path.join(out, 'model'),
      path.join(defaultMnistDir(), 't10k-images-idx3-ubyte'),
      '--limit',
      '20',
    ],
    { timeoutMs: 60_000 },
  );
  assert.equal(idx.code, 0, idx.stderr);
  const fromIdx = idx.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { index: number; class: number; probabilities: number[] });
  assert.equal(fromIdx.length, 20);
  assert.deepEqual(
    fromIdx.map((p) => p.index),
    Array.from({ length: 20 }, (_, i) => i),
  );
  for (const p of fromIdx) assert.ok(Math.abs(p.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-3);
  const { rows, labels } = rawTestImages(20);
  const correct = fromIdx.filter((p, i) => p.class === labels[i]).length;
  assert.ok(correct >= 14, `only ${correct}/20 right for a model with ${valAccuracy(out)} accuracy`);
  const file = path.join(tempDir('predict'), 'rows.json');
  fs.writeFileSync(file, JSON.stringify({ instances: rows }));
  const json = await runCli(['predict', '--model', path.join(out, 'model'), file], { timeoutMs: 60_000 });
  assert.deepEqual(
    json.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { class: number }).class),
    fromIdx.map((p) => p.class),
  );
});

test('export --quantize uint8 writes a quarter-size model and reports accuracy after quantization', async () => {
  const out = await trainedRun();
  const r = await runCli(['export', '--model', path.join(out, 'model'), '--quantize', 'uint8'], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const before = fs.statSync(path.join(out, 'model', 'weights.bin')).size;
  const after = fs.statSync(path.join(out, 'model-uint8', 'weights.bin')).size;
  assert.equal(after, before / 4);
  const m = /uint8 +(\d+) +loss (\d\.\d{4}) acc (\d+\.\d{2})%/.exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.equal(Number(m[1]), after);
  // Quantization error is small against a 1000-sample accuracy: within 1 point of float32.
  assert.ok(Math.abs(Number(m[3]) - 100 * valAccuracy(out)) <= 1, r.stdout);
  const evalQ = await runCli(['eval', '--model', path.join(out, 'model-uint8'), '--json'], { timeoutMs: 60_000 });
  assert.equal((JSON.parse(evalQ.stdout) as { accuracy: number }).accuracy.toFixed(4), (Number(m[3]) / 100).toFixed(4));
});

test('serve answers POST /predict and refuses bad input with 4xx and a reason', async () => {
  const out = await trainedRun();
  const server = startCli(
    ['serve', '--model', path.join(out, 'model'), '--port', '0', '--max-body', '30000', '--max-batch', '8'],
    { timeoutMs: 60_000 },
  );
  let stdout = '';
  server.child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  try {
    const url = await waitFor('the server to listen', () => /on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1], 30_000);
    const post = (body: string, type = 'application/json'): Promise<Response> =>
      fetch(`${url}/predict`, { method: 'POST', headers: { 'content-type': type }, body });
    const { rows, labels } = rawTestImages(4);
    const ok = await post(JSON.stringify({ instances: rows }));
    assert.equal(ok.status, 200);
    const preds = ((await ok.json()) as { predictions: { class: number; probabilities: number[] }[] }).predictions;
    assert.equal(preds.length, 4);
    assert.ok(preds.filter((p, i) => p.class === labels[i]).length >= 2);

    const expectError = async (res: Response, status: number, message: RegExp): Promise<void> => {
      assert.equal(res.status, status);
      assert.match(((await res.json()) as { error: string }).error, message);
    };
    await expectError(await post('{"instances": [[1, 2'), 400, /body is not valid JSON/);
    await expectError(
      await post(JSON.stringify({ instances: [[1, 2, 3]] })),
      400,
      /instance 0 has 3 values, the model takes 784 per row/,
    );
    await expectError(
      await post(JSON.stringify({ instances: [rows[0]!.map(() => 'x')] })),
      400,
      /instance 0, value 0 is "x", expected a finite number/,
    );
    await expectError(await post(JSON.stringify({ rows })), 400, /expected \{"instances"/);
    await expectError(
      await post(JSON.stringify({ instances: Array(9).fill(rows[0]) })),
      413,
      /9 instances in one request, at most 8/,
    );
    await expectError(
      await post(JSON.stringify({ instances: Array(8).fill(rows[0]!.map(() => 255.5)) })),
      413,
      /exceeds the limit of 30000 bytes/,
    );
    await expectError(
      await post('a=1', 'application/x-www-form-urlencoded'),
      415,
      /content-type must be application\/json/,
    );
    await expectError(await fetch(`${url}/predict`), 405, /answers POST/);
    await expectError(await fetch(`${url}/nope`), 404, /no route \/nope/);
    const health = await fetch(`${url}/healthz`);
    assert.deepEqual(((await health.json()) as { model: { features: number; classes: number } }).model.features, 784);
  } finally {
    server.child.kill('SIGTERM');
  }
  const r = await server.result;
  assert.equal(r.code, 0, r.stderr);
});

test('eval prints per-class precision, recall, F1 and the confusion matrix; --json carries them and they add up', async () => {
  const out = await trainedRun();
  const r = await runCli(['eval', '--model', path.join(out, 'model'), '--json'], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const got = JSON.parse(r.stdout) as {
    accuracy: number;
    perClass: { class: number; precision: number; recall: number; f1: number; support: number }[];
    confusion: number[][];
    macro: { f1: number };
  };
  assert.equal(got.perClass.length, 10);
  assert.equal(
    got.confusion.flat().reduce((a, b) => a + b, 0),
    1000,
  );
  assert.equal(got.confusion.reduce((s, row, i) => s + row[i]!, 0) / 1000, got.accuracy);
  got.perClass.forEach((c, i) => {
    assert.equal(
      c.support,
      got.confusion[i]!.reduce((a, b) => a + b, 0),
    );
    assert.ok(Math.abs(c.recall - got.confusion[i]![i]! / c.support) < 1e-12);
    const predicted = got.confusion.reduce((s, row) => s + row[i]!, 0);
    assert.ok(Math.abs(c.precision - got.confusion[i]![i]! / predicted) < 1e-12);
  });
  const human = await runCli(['eval', '--model', out], { timeoutMs: 60_000 });
  assert.match(human.stdout, /^ +precision +recall +f1 +support$/m);
  assert.match(
    human.stdout,
    new RegExp(`^ +macro avg +\\d\\.\\d{4} +\\d\\.\\d{4} +${got.macro.f1.toFixed(4)} +1000$`, 'm'),
  );
  assert.match(human.stdout, /^confusion matrix \(rows: true class, columns: predicted\)$/m);
});

test('export --format onnx writes a file ONNX Runtime runs to the same probabilities predict gives', async () => {
  const out = await trainedRun();
  const r = await runCli(['export', '--model', path.join(out, 'model'), '--format', 'onnx'], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const file = path.join(out, 'model.onnx');
  assert.match(
    r.stdout,
    new RegExp(
      `ONNX model \\(opset 13, \\d+ nodes, ${fs.statSync(file).size} bytes\\) in ${file.replace(/[.]/g, '\\.')}`,
    ),
  );
  assert.match(r.stdout, /input +'input' \[batch, 784\] float32: normalised rows: \(raw x 0\.00392\d* - mean\) \/ std/);
  const { rows } = rawTestImages(20);
  const preprocess = JSON.parse(fs.readFileSync(path.join(out, 'model', 'preprocess.json'), 'utf8')) as {
    scale: number;
    mean: number[];
    std: number[];
  };
  const x = Float32Array.from(rows.flat(), (v) => (v * preprocess.scale - preprocess.mean[0]!) / preprocess.std[0]!);
  const session = await InferenceSession.create(file);
  const logits = (await session.run({ input: new Tensor('float32', x, [20, 784]) })).output!.data as Float32Array;
  await session.release();
  const file2 = path.join(tempDir('predict-onnx'), 'rows.json');
  fs.writeFileSync(file2, JSON.stringify({ instances: rows }));
  const predicted = (await runCli(['predict', '--model', path.join(out, 'model'), file2], { timeoutMs: 60_000 })).stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { probabilities: number[] });
  predicted.forEach((p, i) => {
    const z = Array.from(logits.subarray(i * 10, (i + 1) * 10));
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const sum = e.reduce((a, b) => a + b, 0);
    // predict prints 4 significant digits.
    e.forEach((v, k) =>
      assert.ok(
        Math.abs(v / sum - p.probabilities[k]!) <= 5e-4 * Math.max(1e-3, p.probabilities[k]!) + 1e-7,
        `row ${i} class ${k}: ${v / sum} vs ${p.probabilities[k]}`,
      ),
    );
  });
  const refused = await runCli(
    ['export', '--model', path.join(out, 'model'), '--format', 'onnx', '--quantize', 'uint8'],
    { timeoutMs: 30_000 },
  );
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--quantize applies to the tfjs format/);
});
