import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { DEFAULT_JOB, JOB_SCHEMA, validateJob, validateJobLayers, type JobSpec } from '../../src/config';
import { leafPaths } from '../../src/config/schema';
import { configError } from './support';

test('every leaf of DEFAULT_JOB has a schema entry and every schema entry is a leaf', () => {
  assert.deepEqual(leafPaths(DEFAULT_JOB).sort(), Object.keys(JOB_SCHEMA).sort());
});

test('an empty config validates to exactly the defaults', () => {
  assert.deepEqual(validateJob({}, 'job.yaml'), DEFAULT_JOB);
  assert.deepEqual(validateJob(null, 'job.yaml'), DEFAULT_JOB);
});

test('defaults fill in every field the config leaves out', () => {
  const spec = validateJob({ data: { batchSize: 32 }, train: { lr: 0.1 } }, 'job.yaml');
  assert.equal(spec.data.batchSize, 32);
  assert.equal(spec.data.dataset, 'mnist');
  assert.equal(spec.data.trainLimit, 0);
  assert.equal(spec.train.lr, 0.1);
  assert.equal(spec.train.momentum, 0.9);
  assert.equal(spec.cluster.worldSize, 2);
});

test('lists replace the default list instead of merging with it', () => {
  assert.deepEqual(validateJob({ model: { hidden: [256, 128] } }, 'x').model.hidden, [256, 128]);
  assert.deepEqual(validateJob({ model: { hidden: [64] } }, 'x').model.hidden, [64]);
});

test('validation leaves DEFAULT_JOB unchanged and returns an unshared object', () => {
  const before = structuredClone(DEFAULT_JOB);
  const hidden = [300, 100];
  const spec = validateJob({ model: { hidden }, data: { batchSize: 8 } }, 'x');
  spec.model.hidden.push(7);
  spec.train.epochs = 99;
  const fromDefaults: JobSpec = validateJob({}, 'x');
  fromDefaults.model.hidden.push(5);
  assert.deepEqual(DEFAULT_JOB, before);
  assert.deepEqual(hidden, [300, 100]);
  assert.notEqual(fromDefaults.model, DEFAULT_JOB.model);
});

test('an unknown key and a bad value in the same file are reported in one error', () => {
  const message = configError(() => validateJob({ data: { batchsize: 32 }, train: { lr: -1 } }, 'job.yaml'));
  const lines = message.split('\n');
  assert.equal(lines[0], 'invalid job spec (2 problems):');
  assert.equal(lines[1], "  job.yaml: unknown field 'data.batchsize' (did you mean 'data.batchSize'?)");
  assert.equal(lines[2], '  job.yaml: train.lr must be a number > 0, got -1');
  assert.match(lines[3] ?? '', /^Fix each field where its source sets it .*--set key=value/);
  assert.equal(lines.length, 4);
});

test('a field put at the wrong level suggests its full path', () => {
  const message = configError(() => validateJob({ batchSize: 32 }, 'job.yaml'));
  assert.match(message, /job\.yaml: unknown field 'batchSize' \(did you mean 'data\.batchSize'\?\)/);
});

test('an unknown key with no close match lists the known fields at its level', () => {
  const message = configError(() => validateJob({ model: { topology: [3] } }, 'job.yaml'));
  assert.match(
    message,
    /unknown field 'model\.topology' \(known fields under 'model': kind, hidden, activation, initializer, initFrom, initSkip, freeze, freezeAllButLast, dropout, channels, blocks, module, layers\)/,
  );
});

test('out-of-range and wrongly typed values each name the field, the rule and the value', () => {
  const cases: Array<[unknown, string]> = [
    [{ data: { batchSize: 0 } }, 'data.batchSize must be an integer >= 1, got 0'],
    [{ data: { batchSize: '32' } }, 'data.batchSize must be an integer >= 1, got "32"'],
    [{ train: { epochs: 0 } }, 'train.epochs must be an integer >= 1, got 0'],
    [{ train: { lr: 0 } }, 'train.lr must be a number > 0, got 0'],
    [{ train: { lr: 'fast' } }, 'train.lr must be a number > 0, got "fast"'],
    [{ train: { momentum: 1 } }, 'train.momentum must be a number >= 0 and < 1, got 1'],
    [{ train: { maxSteps: -1 } }, 'train.maxSteps must be an integer >= 0, got -1'],
    [{ cluster: { worldSize: 1.5 } }, 'cluster.worldSize must be an integer >= 1, got 1.5'],
    [{ cluster: { joinTimeoutSec: 0 } }, 'cluster.joinTimeoutSec must be a number > 0, got 0'],
    [{ observe: { metricsPort: 70000 } }, 'observe.metricsPort must be an integer >= 0 and <= 65535, got 70000'],
    [
      { observe: { logLevel: 'verbose' } },
      "observe.logLevel must be one of 'trace', 'debug', 'info', 'warn', 'error', got \"verbose\"",
    ],
    [{ backend: 'gpu' }, "backend must be one of 'auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu', got \"gpu\""],
    [
      { model: { activation: 'gelu' } },
      "model.activation must be one of 'relu', 'tanh', 'sigmoid', 'leakyRelu', got \"gelu\"",
    ],
    [{ model: { hidden: [] } }, 'model.hidden must be a non-empty list of integers >= 1, like [256, 128], got []'],
    [
      { model: { hidden: [128, 0] } },
      'model.hidden must be a non-empty list of integers >= 1, like [256, 128], got [128,0]',
    ],
    [{ model: { hidden: 128 } }, 'model.hidden must be a non-empty list of integers >= 1, like [256, 128], got 128'],
    [{ name: '' }, 'name must be a non-empty string, got ""'],
    [{ train: { lr: Infinity } }, 'train.lr must be a number > 0, got Infinity'],
  ];
  for (const [raw, expected] of cases) {
    assert.equal(configError(() => validateJob(raw, 'f.yaml')).split('\n')[1], `  f.yaml: ${expected}`);
  }
});

test('boundary values inside the ranges are accepted', () => {
  const spec = validateJob(
    {
      train: { momentum: 0, maxSteps: 0 },
      observe: { metricsPort: 65535 },
      cluster: { worldSize: 1, heartbeatIntervalSec: 0.5 },
      data: { dir: '' },
    },
    'x',
  );
  assert.equal(spec.train.momentum, 0);
  assert.equal(spec.observe.metricsPort, 65535);
  assert.equal(spec.cluster.heartbeatIntervalSec, 0.5);
});

test('a number where text is expected suggests quoting it', () => {
  const message = configError(() => validateJob({ name: 2024 }, '--set'));
  assert.match(message, /--set: name must be a non-empty string, got 2024 \(quote it to keep it text: '2024'\)/);
});

test('a scalar where a group is expected is reported as needing a mapping', () => {
  const group = configError(() => validateJob({ data: 5 }, 'j.yaml'));
  assert.match(group, /j\.yaml: 'data' must be a mapping of fields, got 5/);
  const top = configError(() => validateJob([1, 2], 'j.yaml'));
  assert.match(top, /j\.yaml: the job spec must be a mapping of fields, got \[1,2\]/);
});

test('a __proto__ key is reported as unknown and pollutes nothing', () => {
  const raw: unknown = JSON.parse('{"__proto__": {"polluted": 1}, "data": {"constructor": 1}}');
  const message = configError(() => validateJob(raw, 'j.json'));
  assert.match(message, /unknown field '__proto__'/);
  assert.match(message, /unknown field 'data\.constructor'/);
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
});

test('a heartbeat interval not shorter than the lease is rejected', () => {
  const message = configError(() =>
    validateJob({ cluster: { heartbeatIntervalSec: 10, leaseTimeoutSec: 5 } }, 'k8s.yaml'),
  );
  assert.ok(
    message.includes('k8s.yaml: cluster.heartbeatIntervalSec (10) must be less than cluster.leaseTimeoutSec (5)'),
    message,
  );
});

test('later layers win and each problem names the layer that set the value', () => {
  const spec = validateJobLayers([
    { raw: { train: { epochs: 3, lr: 0.5 } }, source: 'job.yaml' },
    { raw: { train: { epochs: 1 } }, source: '--set' },
  ]);
  assert.equal(spec.train.epochs, 1);
  assert.equal(spec.train.lr, 0.5);

  const message = configError(() =>
    validateJobLayers([
      { raw: { train: { epochs: 0 }, data: { batchSize: 0 } }, source: 'job.yaml' },
      { raw: { train: { epochs: 2 }, model: { hiden: [1] } }, source: '--set' },
    ]),
  );
  assert.doesNotMatch(message, /train\.epochs/, 'a value fixed by a later layer is not a problem');
  assert.match(message, /--set: unknown field 'model\.hiden' \(did you mean 'model\.hidden'\?\)/);
  assert.match(message, /job\.yaml: data\.batchSize must be an integer >= 1, got 0/);
});

test('model.kind layers takes a list of mappings, and an empty or non-mapping list is refused with an example', () => {
  const layers = [
    { type: 'dense', units: 64, activation: 'relu' },
    { type: 'dropout', rate: 0.2 },
  ];
  const spec = validateJob({ model: { kind: 'layers', layers } }, 'job.yaml');
  assert.equal(spec.model.kind, 'layers');
  assert.deepEqual(spec.model.layers, layers);
  assert.match(
    configError(() => validateJob({ model: { kind: 'layers' } }, 'job.yaml')),
    /job\.yaml: model\.kind is layers but model\.layers is empty: list the model's layers, e\.g\. \[\{type: dense/,
  );
  assert.match(
    configError(() => validateJob({ model: { kind: 'layers', layers: [3, 'dense'] } }, 'job.yaml')),
    /model\.layers must be a list of mappings, like \[\{type: dense, units: 128, activation: relu\}\], got/,
  );
});
