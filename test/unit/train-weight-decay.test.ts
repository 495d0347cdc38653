/**
 * train.decayBiasAndNorm in the training loop: off, the MLP's biases get no weight decay (torch
 * param groups with weight_decay 0), every rank alike.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { DEFAULT_JOB, validateJob } from '../../src/config';
import { mnistSlice, relativeDifference, specWith, trainRanks, type SpecPatch } from './train-harness';

async function weights(world: number, train: SpecPatch['train']): Promise<Float32Array[]> {
  const data = await mnistSlice(10 * 32, 32);
  const spec = specWith({
    data: { batchSize: 32 / world },
    train: { epochs: 1, optimizer: 'adamw', lr: 0.01, ...train },
  });
  const ranks = await trainRanks({ world, spec, data });
  for (const r of ranks) assert.equal(r.error, undefined, String(r.error));
  return ranks.map((r) => r.weights);
}

test('decayBiasAndNorm reaches the optimizer: off, training differs from decaying everything; without weight decay it changes nothing; 2 workers still train like 1', async () => {
  // Which parameters are exempt, and that exempt ones update as with weightDecay 0, is held in
  // train-optimizers.test.ts; here, that the loop hands the MLP's biases to the optimizer.
  const [off] = await weights(1, { weightDecay: 0.5, decayBiasAndNorm: false });
  const [on] = await weights(1, { weightDecay: 0.5 });
  const changed = relativeDifference(off!, on!);
  assert.ok(changed > 1e-4, `exempting the biases left the weights within ${changed} of decaying them`);
  const [plainOff] = await weights(1, { weightDecay: 0, decayBiasAndNorm: false });
  const [plainOn] = await weights(1, { weightDecay: 0 });
  assert.deepEqual(plainOff, plainOn, 'without weight decay the flag must change nothing');
  const pair = await weights(2, { weightDecay: 0.5, decayBiasAndNorm: false });
  assert.deepEqual(pair[0], pair[1], 'the two replicas differ');
  const rel = relativeDifference(off!, pair[0]!);
  assert.ok(rel <= 1e-5, `2 workers are ${rel} away from 1 worker`);
});

test('train.decayBiasAndNorm is a boolean, on by default (torch decays every parameter)', () => {
  assert.equal(DEFAULT_JOB.train.decayBiasAndNorm, true);
  assert.equal(validateJob({ train: { decayBiasAndNorm: false } }, 'job.yaml').train.decayBiasAndNorm, false);
  assert.throws(
    () => validateJob({ train: { decayBiasAndNorm: 'no' } }, 'job.yaml'),
    /job\.yaml: train\.decayBiasAndNorm must be true or false, got "no"/,
  );
});
