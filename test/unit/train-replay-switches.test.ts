/**
 * What a user needs to replay a run in another framework: the sample order (data.shuffle=false
 * keeps dataset order through the DistributedSampler's interleave) and the starting weights
 * (checkpoint.atStart writes them before the first step).
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listCheckpoints, readCheckpoint } from '../../src/worker/checkpoint-store';
import { ParamLayout, buildMlp } from '../../src/train';
import { mnistSlice, specWith, trainRanks } from './train-harness';

/** Each rank's sample indices in the order it trained on them, over one 2-rank epoch of 64 samples. */
async function visitedOrder(shuffle: boolean): Promise<number[][]> {
  const data = await mnistSlice(64, 32);
  const seen = new Map<string, number[]>();
  const spec = specWith({ data: { batchSize: 8, shuffle }, train: { epochs: 1 } });
  const out = await trainRanks({
    world: 2,
    spec,
    data,
    augment: (_epoch, rank) => (_batch, idx, position) =>
      void seen.set(`${rank}:${String(position).padStart(4, '0')}`, Array.from(idx)),
  });
  for (const r of out) assert.equal(r.error, undefined, String(r.error));
  const keys = [...seen.keys()].sort();
  return [0, 1].map((rank) => keys.filter((k) => k.startsWith(`${rank}:`)).flatMap((k) => seen.get(k) ?? []));
}

test('data.shuffle=false: rank r trains on samples r, r+2, r+4, ... in order; the default shuffles', async () => {
  const [r0, r1] = await visitedOrder(false);
  assert.deepEqual(
    r0,
    Array.from({ length: 32 }, (_, k) => 2 * k),
  );
  assert.deepEqual(
    r1,
    Array.from({ length: 32 }, (_, k) => 2 * k + 1),
  );
  const [s0] = await visitedOrder(true);
  assert.equal(s0?.length, 32);
  assert.notDeepEqual(s0, r0, 'the default order is shuffled');
});

test('checkpoint.atStart: rank 0 writes the broadcast starting weights as a step-0 checkpoint before the first step', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-atstart-'));
  try {
    const data = await mnistSlice(64, 32);
    const spec = specWith({
      data: { batchSize: 16 },
      train: { epochs: 1 },
      checkpoint: { atStart: true, everyEpochs: 1, keep: 5 },
    });
    const out = await trainRanks({
      world: 2,
      spec,
      data,
      checkpointDir: dir,
    });
    for (const r of out) assert.equal(r.error, undefined, String(r.error));
    // Newest first.
    assert.deepEqual(
      listCheckpoints(dir).map((c) => c.step),
      [2, 0],
    );
    const start = readCheckpoint(listCheckpoints(dir).find((c) => c.step === 0)?.dir ?? '');
    const params = start.arrays.get('params');
    assert.ok(params !== undefined);
    // Rank 0's freshly built model (the harness seeds it with spec.seed; rank 1 starts elsewhere and takes the broadcast).
    const model = buildMlp(spec.model, data.train.features, data.train.classes, spec.seed);
    const built = new Float32Array(ParamLayout.ofModel(model).size);
    ParamLayout.ofModel(model).readWeights(built);
    model.dispose();
    assert.deepEqual(params, built, 'the step-0 checkpoint holds the starting weights');
    assert.notDeepEqual(params, out[0]?.weights, 'training moved the weights away from the start');
    // Without the switch, no step-0 checkpoint.
    const off = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-atstart-off-'));
    await trainRanks({
      world: 2,
      spec: specWith({ data: { batchSize: 16 }, train: { epochs: 1 }, checkpoint: { everyEpochs: 1 } }),
      data,
      checkpointDir: off,
    });
    assert.deepEqual(
      listCheckpoints(off).map((c) => c.step),
      [2],
    );
    fs.rmSync(off, { recursive: true, force: true });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
