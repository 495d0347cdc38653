/**
 * Fine-tuning and initialisation: model.initializer's distributions, leakyRelu wherever an
 * activation is offered, model.initFrom from a saved model and from a checkpoint (shapes
 * checked, mismatches named), and model.freeze: frozen layers keep their weights bit for bit
 * through training on 2 workers and stay out of the all-reduce.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { validateJob } from '../../src/config';
import {
  LEAKY_RELU_SLOPE,
  ParamLayout,
  buildFromLayers,
  buildMlp,
  buildModel,
  frozenLayers,
  initWeightsFrom,
  readSavedWeights,
  saveModelToDir,
  stepFeatures,
} from '../../src/train';
import { readCheckpoint } from '../../src/worker';
import { prepareModel } from '../../src/worker/fine-tune';
import { configError } from './support';
import { mnistSlice, specWith, trainRanks } from './train-harness';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-ft-'));

function weightsOf(model: tfl.LayersModel, layer: string): Float32Array[] {
  return model
    .getLayer(layer)
    .getWeights()
    .map((w) => Float32Array.from(w.dataSync() as Float32Array));
}

function stats(v: Float32Array): { std: number; maxAbs: number } {
  let s = 0;
  let s2 = 0;
  let maxAbs = 0;
  for (const x of v) {
    s += x;
    s2 += x * x;
    maxAbs = Math.max(maxAbs, Math.abs(x));
  }
  const mean = s / v.length;
  return { std: Math.sqrt(s2 / v.length - mean * mean), maxAbs };
}

test('model.initializer draws he and xavier kernels, normal (truncated at 2 std, as Keras) and uniform, with the right spread', async () => {
  await mnistSlice(1, 1);
  const fanIn = 784;
  const fanOut = 256;
  // The std of a normal truncated at +-2 std is 0.8796 of the untruncated one.
  const TRUNC = 0.87962566;
  const cases = [
    { init: 'he-normal', std: Math.sqrt(2 / fanIn) * TRUNC, limit: 2 * Math.sqrt(2 / fanIn) },
    { init: 'he-uniform', std: Math.sqrt(2 / fanIn), limit: Math.sqrt(6 / fanIn) },
    { init: 'xavier-normal', std: Math.sqrt(2 / (fanIn + fanOut)) * TRUNC, limit: 2 * Math.sqrt(2 / (fanIn + fanOut)) },
    { init: 'xavier-uniform', std: Math.sqrt(2 / (fanIn + fanOut)), limit: Math.sqrt(6 / (fanIn + fanOut)) },
  ] as const;
  for (const c of cases) {
    const model = buildMlp({ hidden: [fanOut], activation: 'relu', initializer: c.init }, fanIn, 10, 7);
    const kernel = weightsOf(model, 'dense_0')[0] as Float32Array;
    const s = stats(kernel);
    assert.ok(Math.abs(s.std / c.std - 1) < 0.02, `${c.init}: std ${s.std}, expected ${c.std}`);
    assert.ok(
      s.maxAbs <= c.limit * (1 + 1e-6) && s.maxAbs > 0.98 * c.limit,
      `${c.init}: max |w| ${s.maxAbs}, bound ${c.limit}`,
    );
    model.dispose();
  }
  // 'auto' keeps the models' own: the same kernel as xavier-uniform for the mlp.
  const auto = buildMlp({ hidden: [8], activation: 'relu', initializer: 'auto' }, 16, 3, 5);
  const xavier = buildMlp({ hidden: [8], activation: 'relu', initializer: 'xavier-uniform' }, 16, 3, 5);
  assert.deepEqual(weightsOf(auto, 'dense_0')[0], weightsOf(xavier, 'dense_0')[0]);
  auto.dispose();
  xavier.dispose();
});

test("leakyRelu (slope 0.01, torch's) is offered by model.activation for the mlp and cnn and by every model.layers entry with an activation", async () => {
  await mnistSlice(1, 1);
  assert.equal(LEAKY_RELU_SLOPE, 0.01);
  assert.equal(validateJob({ model: { activation: 'leakyRelu' } }, 'job.yaml').model.activation, 'leakyRelu');
  const check = (model: tfl.LayersModel, layer: string): void => {
    const l = model.getLayer(layer);
    assert.equal(l.getClassName(), 'LeakyReLU');
    const y = l.apply(tf.tensor2d([[-2, 3]])) as tf.Tensor;
    assert.deepEqual(Array.from(y.dataSync()), [Math.fround(-0.02), 3]);
  };
  const spec = specWith({ model: { activation: 'leakyRelu', hidden: [8], channels: [4] } }).model;
  check(buildModel({ ...spec, kind: 'mlp' }, [784], 10, 1), 'dense_0_leaky_relu');
  check(buildModel({ ...spec, kind: 'cnn' }, [784], 10, 1), 'dense_0_leaky_relu');
  const layers = buildFromLayers(
    [
      { type: 'conv2d', filters: 2, kernelSize: 3, activation: 'leakyRelu' },
      { type: 'dense', units: 4, activation: 'leakyRelu' },
    ],
    [784],
    10,
    1,
  );
  check(layers, 'conv2d_0_leaky_relu');
  check(layers, 'dense_1_leaky_relu');
});

test("model.initFrom copies a saved model's weights bit for bit, and names every weight whose shape does not fit, with the initSkip fix", async () => {
  await mnistSlice(1, 1);
  const dir = tmp();
  const source = buildMlp({ hidden: [16], activation: 'relu' }, 784, 10, 1);
  await saveModelToDir(source, dir);
  const fresh = buildMlp({ hidden: [16], activation: 'relu' }, 784, 10, 2);
  assert.notDeepEqual(weightsOf(fresh, 'dense_0')[0], weightsOf(source, 'dense_0')[0]);
  const r = initWeightsFrom(fresh, readSavedWeights(dir));
  assert.equal(r.loaded, 4);
  for (const layer of ['dense_0', 'logits']) assert.deepEqual(weightsOf(fresh, layer), weightsOf(source, layer));

  // Another head (5 classes): refused with both logits weights named, nothing written.
  const other = buildMlp({ hidden: [16], activation: 'relu' }, 784, 5, 3);
  const before = weightsOf(other, 'dense_0');
  const msg = configError(() => initWeightsFrom(other, readSavedWeights(dir)));
  assert.match(msg, /does not fit this model \(2 weights\)/);
  assert.match(msg, /logits\/kernel is \[16,5\] here but \[16,10\] in /);
  assert.match(msg, /logits\/bias is \[5\] here but \[10\] in /);
  assert.match(msg, /model\.initSkip \(e\.g\. \[logits\]\)/);
  assert.deepEqual(weightsOf(other, 'dense_0'), before, 'a refused initFrom wrote weights');
  // ... and with the head skipped, the body comes over and the head stays fresh.
  const head = weightsOf(other, 'logits');
  const kept = initWeightsFrom(other, readSavedWeights(dir), ['logits']);
  assert.deepEqual(kept.kept, ['logits/kernel', 'logits/bias']);
  assert.deepEqual(weightsOf(other, 'dense_0'), weightsOf(source, 'dense_0'));
  assert.deepEqual(weightsOf(other, 'logits'), head);
  assert.match(
    configError(() => initWeightsFrom(other, readSavedWeights(dir), ['head'])),
    /model\.initSkip names 'head', which the model does not have: its layers with weights are dense_0, logits/,
  );
  // A missing weight is named too (a wider model has a layer the source lacks).
  const deeper = buildMlp({ hidden: [16, 8], activation: 'relu' }, 784, 10, 3);
  assert.match(
    configError(() => initWeightsFrom(deeper, readSavedWeights(dir))),
    /dense_1\/kernel \[16,8\] is not in /,
  );
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a 2-worker run with model.initFrom starts from exactly those weights, from a saved model or from a checkpoint', async () => {
  const data = await mnistSlice(8 * 32, 64);
  const dir = tmp();
  const source = buildMlp({ hidden: [32], activation: 'relu' }, 784, 10, 11);
  await saveModelToDir(source, path.join(dir, 'model'));
  const expected = new Float32Array(784 * 32 + 32 + 32 * 10 + 10);
  let at = 0;
  for (const w of source.trainableWeights) {
    expected.set(w.read().dataSync() as Float32Array, at);
    at += w.read().size;
  }
  const firstStep = async (initFrom: string, checkpointDir?: string): Promise<Float32Array> => {
    const spec = specWith({
      data: { batchSize: 16 },
      train: { epochs: 1 },
      model: { initFrom },
      checkpoint: { everyEpochs: 1 },
    });
    let first: Float32Array | undefined;
    const ranks = await trainRanks({
      world: 2,
      spec,
      data,
      checkpointDir,
      // Every rank applies initFrom to a model seeded its own way, as workers do (run-worker.ts).
      model: (rank) => {
        const m = buildMlp(spec.model, 784, 10, 100 + rank);
        prepareModel(spec, m);
        return m;
      },
      hooks: (rank) => ({
        wantsDiagnostics: () => rank === 0 && first === undefined,
        onDiagnostics: (d) => (first ??= d.before.slice()),
      }),
    });
    for (const r of ranks) assert.equal(r.error, undefined, String(r.error));
    assert.ok(first !== undefined);
    return first;
  };
  const fromModel = await firstStep(path.join(dir, 'model'), path.join(dir, 'ckpt'));
  assert.deepEqual(fromModel, expected, 'the first step did not start from the saved weights');
  // The checkpoint that run wrote (after its one epoch) is a start too: weights found by name.
  const ckpt = fs.readdirSync(path.join(dir, 'ckpt')).filter((n) => n.startsWith('ckpt-'));
  assert.equal(ckpt.length, 1);
  const params = readCheckpoint(path.join(dir, 'ckpt', ckpt[0] as string)).arrays.get('params') as Float32Array;
  const fromCkpt = await firstStep(path.join(dir, 'ckpt'));
  assert.deepEqual(fromCkpt, params);
  assert.notDeepEqual(fromCkpt, expected);
  source.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a frozen layer keeps its weights bit for bit through 2-worker training with momentum and weight decay, and leaves the all-reduce', async () => {
  const data = await mnistSlice(8 * 32, 64);
  const spec = specWith({
    data: { batchSize: 16 },
    train: { epochs: 2, weightDecay: 0.01 },
    model: { freeze: ['dense_0'] },
  });
  const initial: Float32Array[] = [];
  const frozenAfter: Float32Array[] = [];
  const sizes: { params: number; frozen: number; features: readonly string[] }[] = [];
  const ranks = await trainRanks({
    world: 2,
    spec,
    data,
    model: (rank) => {
      const m = buildMlp(spec.model, 784, 10, 200 + rank);
      if (rank === 0) initial.push(...weightsOf(m, 'dense_0'));
      return m;
    },
    before: (_rank, loop) =>
      sizes.push({ params: loop.layout.size, frozen: loop.frozen.size, features: loop.stepFeatures }),
    hooks: (rank, loop) => ({
      onEpoch: (e) => {
        if (e.epoch !== 2) return;
        const buf = new Float32Array(loop().frozen.size);
        loop().frozen.readWeights(buf);
        frozenAfter[rank] = buf;
      },
    }),
  });
  for (const r of ranks) assert.equal(r.error, undefined, String(r.error));
  const kernelAndBias = new Float32Array([...(initial[0] as Float32Array), ...(initial[1] as Float32Array)]);
  // Rank 1 started from other weights: the start broadcast gave it rank 0's frozen ones.
  for (const rank of [0, 1]) assert.deepEqual(frozenAfter[rank], kernelAndBias, `rank ${rank}'s frozen dense_0 moved`);
  assert.deepEqual(ranks[0]!.weights, ranks[1]!.weights);
  assert.equal(sizes[0]!.params, 32 * 10 + 10, 'the training layout holds only the logits');
  assert.equal(sizes[0]!.frozen, 784 * 32 + 32);
  assert.deepEqual(sizes[0]!.features, ['frozen layers']);
  // The all-reduced bytes are those of the logits (+ 5 riding floats), not of the whole model.
  const steps = Math.ceil((8 * 32) / 2 / 16) * 2;
  const bytes = (await ranks[0]!.registry.getSingleMetric('ringtrain_allreduce_bytes_total')?.get())?.values[0]?.value;
  assert.equal(bytes, (steps * (2 * 1 * (330 + 5) * 4)) / 2);
});

test('model.freezeAllButLast freezes all but the last N layers with weights; bad freezes are refused naming the layers', async () => {
  await mnistSlice(1, 1);
  const model = buildMlp({ hidden: [8, 8], activation: 'relu' }, 784, 10, 1);
  assert.deepEqual(frozenLayers(model, { freeze: [], freezeAllButLast: 1 }), ['dense_0', 'dense_1']);
  assert.deepEqual(frozenLayers(model, { freeze: [], freezeAllButLast: 2 }), ['dense_0']);
  assert.deepEqual(frozenLayers(model, { freeze: ['dense_1'], freezeAllButLast: 0 }), ['dense_1']);
  assert.deepEqual(frozenLayers(model, { freeze: [], freezeAllButLast: 0 }), []);
  assert.match(
    configError(() => frozenLayers(model, { freeze: [], freezeAllButLast: 3 })),
    /model\.freezeAllButLast is 3, but the model has 3 layers with weights \(dense_0, dense_1, logits\), so nothing would be frozen: give a number below 3/,
  );
  assert.match(
    configError(() => frozenLayers(model, { freeze: ['dense_9'], freezeAllButLast: 0 })),
    /model\.freeze names 'dense_9', which the model does not have: its layers with weights are dense_0, dense_1, logits/,
  );
  assert.match(
    configError(() => frozenLayers(model, { freeze: ['dense_0', 'dense_1', 'logits'], freezeAllButLast: 0 })),
    /freezes every layer with weights .* nothing would train: leave at least one out/,
  );
  assert.deepEqual(stepFeatures({}, ParamLayout.ofModel(model), false), []);
  model.dispose();
});

test('the fine-tuning knobs are checked: names, both freezes, initSkip without initFrom, the initializer and activation values', () => {
  const spec = validateJob(
    { model: { initFrom: 'runs/a/model', initSkip: ['logits'], freeze: ['dense_0'], initializer: 'he-uniform' } },
    'job.yaml',
  );
  assert.deepEqual(
    [spec.model.initSkip, spec.model.freeze, spec.model.initializer],
    [['logits'], ['dense_0'], 'he-uniform'],
  );
  assert.match(
    configError(() => validateJob({ model: { freeze: ['dense_0'], freezeAllButLast: 1 } }, 'job.yaml')),
    /job\.yaml: model\.freeze and model\.freezeAllButLast both choose the frozen layers: keep one/,
  );
  assert.match(
    configError(() => validateJob({ model: { initSkip: ['logits'] } }, 'job.yaml')),
    /job\.yaml: model\.initSkip names layers to leave fresh under model\.initFrom, which is not set: set model\.initFrom/,
  );
  assert.match(
    configError(() => validateJob({ model: { freeze: 'dense_0' } }, 'job.yaml')),
    /job\.yaml: model\.freeze must be a list of names, like \[dense_0, dense_1\], got "dense_0"/,
  );
  assert.match(
    configError(() => validateJob({ model: { initializer: 'kaiming' } }, 'job.yaml')),
    /model\.initializer must be one of 'auto', 'he-normal', 'he-uniform', 'xavier-normal', 'xavier-uniform', got "kaiming"/,
  );
  assert.match(
    configError(() => validateJob({ model: { freezeAllButLast: -1 } }, 'job.yaml')),
    /model\.freezeAllButLast must be an integer >= 0/,
  );
  assert.match(
    configError(() => validateJob({ model: { kind: 'module', module: 'm.js', initializer: 'he-normal' } }, 'job.yaml')),
    /model\.initializer applies to the built-in models; a module builds its own layers/,
  );
});
