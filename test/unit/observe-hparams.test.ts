import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { DEFAULT_JOB, type JobSpec } from '../../src/config';
import { decodeHParamsContent, readEventFile, scalarsByTag, splitRecords, type DecodedValue } from '../../src/observe';
import { writeHParams } from '../../src/record';

const SPEC: JobSpec = {
  ...DEFAULT_JOB,
  name: 'hp',
  model: { ...DEFAULT_JOB.model, kind: 'cnn' },
  train: { ...DEFAULT_JOB.train, lr: 0.05, optimizer: 'adam' },
};

function hparamsValues(file: string): Map<string, DecodedValue & { wallTime: number }> {
  const out = new Map<string, DecodedValue & { wallTime: number }>();
  for (const ev of readEventFile(file).events)
    for (const v of ev.values) if (v.plugin === 'hparams') out.set(v.tag, { ...v, wallTime: ev.wallTime });
  return out;
}

test('the run writes TensorBoard HParams summaries: the experiment, its settings at the start, its end and final metrics', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-hparams-'));
  try {
    const file = writeHParams(dir, SPEC, {
      worldSize: 2,
      startSecs: 1_700_000_000,
      endSecs: 1_700_000_100,
      status: 'success',
      steps: 940,
      epochs: 3,
      test: { loss: 0.31, accuracy: 0.9125 },
      val: { loss: 0.3, accuracy: 0.915 },
      train: { loss: 0.25, accuracy: 0.93 },
    });
    assert.equal(
      path.dirname(file),
      path.join(dir, 'tensorboard'),
      "in the run's tensorboard root, beside train/ and validation/",
    );
    const values = hparamsValues(file);
    assert.deepEqual(
      [...values.keys()],
      ['_hparams_/experiment', '_hparams_/session_start_info', '_hparams_/session_end_info'],
    );

    const experiment = decodeHParamsContent(values.get('_hparams_/experiment')!.content!) as {
      version: number;
      data: string;
      experiment: {
        name: string;
        timeCreatedSecs: number;
        hparamInfos: { name: string; type: string }[];
        metricInfos: { name: { group: string; tag: string }; datasetType: string }[];
      };
    };
    assert.equal(experiment.version, 0);
    assert.equal(experiment.data, 'experiment');
    assert.equal(experiment.experiment.name, 'hp');
    const types = new Map(experiment.experiment.hparamInfos.map((h) => [h.name, h.type]));
    assert.equal(types.get('train.lr'), 'DATA_TYPE_FLOAT64');
    assert.equal(types.get('train.optimizer'), 'DATA_TYPE_STRING');
    assert.equal(types.get('data.shuffle'), 'DATA_TYPE_BOOL');
    assert.equal(types.get('cluster.worldSize'), 'DATA_TYPE_FLOAT64');
    const metrics = experiment.experiment.metricInfos.map((m) => `${m.name.group}|${m.name.tag}|${m.datasetType}`);
    for (const m of [
      '|final/test_accuracy|DATASET_UNKNOWN',
      '|final/val_loss|DATASET_VALIDATION',
      'validation|epoch/accuracy|DATASET_VALIDATION',
      'train|epoch/loss|DATASET_TRAINING',
    ])
      assert.ok(metrics.includes(m), `${m} in ${metrics.join(', ')}`);

    const start = decodeHParamsContent(values.get('_hparams_/session_start_info')!.content!) as {
      data: string;
      sessionStartInfo: {
        hparams: Record<string, { numberValue?: number; stringValue?: string; boolValue?: boolean }>;
        startTimeSecs: number;
        modelUri: string;
      };
    };
    assert.equal(start.data, 'sessionStartInfo');
    const hp = start.sessionStartInfo.hparams;
    assert.equal(hp['train.lr']?.numberValue, 0.05);
    assert.equal(hp['train.optimizer']?.stringValue, 'adam');
    assert.equal(hp['model.kind']?.stringValue, 'cnn');
    assert.equal(hp['data.shuffle']?.boolValue, true);
    assert.equal(hp['data.augment.flip']?.boolValue, false, 'false is written, not left out');
    assert.equal(hp['model.hidden']?.stringValue, '[128]');
    assert.equal(hp['cluster.worldSize']?.numberValue, 2);
    assert.equal(start.sessionStartInfo.startTimeSecs, 1_700_000_000);
    assert.equal(start.sessionStartInfo.modelUri, path.join(dir, 'model'));
    assert.equal(Object.keys(hp).length, types.size, 'the experiment declares every setting the session has');

    const end = decodeHParamsContent(values.get('_hparams_/session_end_info')!.content!) as {
      sessionEndInfo: { status: string; endTimeSecs: number };
    };
    assert.deepEqual(end.sessionEndInfo, { status: 'STATUS_SUCCESS', endTimeSecs: 1_700_000_100 });

    const scalars = scalarsByTag(readEventFile(file).events);
    assert.deepEqual(scalars.get('final/test_accuracy'), [
      { step: 940, value: Math.fround(0.9125), wallTime: 1_700_000_100 },
    ]);
    assert.equal(scalars.get('final/epochs')?.[0]?.value, 3);
    assert.equal(scalars.has('_hparams_/experiment'), false, 'the HParams values are not scalars');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("each HParams value carries TensorBoard's null tensor: an empty float vector", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-hparams-'));
  try {
    const file = writeHParams(dir, SPEC, {
      worldSize: 1,
      startSecs: 1,
      endSecs: 2,
      status: 'success',
      steps: 1,
      epochs: 1,
      test: { loss: 1, accuracy: NaN, mse: 1, mae: 0.5, r2: 0.1 },
    });
    const root = protobuf.loadSync(path.join(__dirname, '../../../proto/tensorboard/event.proto'));
    const Event = root.lookupType('tensorboard.Event');
    let seen = 0;
    for (const rec of splitRecords(fs.readFileSync(file), file).records) {
      const ev = Event.toObject(Event.decode(rec), { enums: String, defaults: true }) as {
        summary?: {
          value: {
            metadata?: { pluginData?: { pluginName: string } };
            tensor?: { dtype: string; tensorShape?: { dim: { size: number }[] } };
          }[];
        };
      };
      for (const v of ev.summary?.value ?? []) {
        if (v.metadata?.pluginData?.pluginName !== 'hparams') continue;
        seen += 1;
        assert.equal(v.tensor?.dtype, 'DT_FLOAT');
        assert.deepEqual(
          v.tensor?.tensorShape?.dim.map((d) => Number(d.size)),
          [0],
        );
      }
    }
    assert.equal(seen, 3);
    // A regression run's final metrics: MAE, MSE and R^2, no accuracy.
    const tags = [...scalarsByTag(readEventFile(file).events).keys()];
    assert.deepEqual(tags.filter((t) => t.startsWith('final/test')).sort(), [
      'final/test_loss',
      'final/test_mae',
      'final/test_mse',
      'final/test_r2',
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
