/**
 * The backward pass overlapped with the all-reduce (src/train/overlapped-step.ts,
 * Communicator.overlapped) against today's path (one fusedStep call, then allReduceMean): the
 * same reduced buffer bit for bit on every rank, float32 and fp16 wires.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Communicator, MemoryHub, type WireDtype } from '../../src/allreduce';
import { DEFAULT_JOB } from '../../src/config';
import { nativeFusedStep } from '../../src/native';
import { FusedStep, ParamLayout, buildModel, overlappedBackward, type LocalStepResult } from '../../src/train';
import type { StepInfo } from '../../src/record';
import { mnistSlice, specWith, trainRanks } from './train-harness';

const skip = nativeFusedStep() === undefined ? 'the native addon with the fused step is not built here' : false;
/** What rides behind the gradients (step-buffer.ts): here the loss and the correct count. */
const EXTRA = 2;

function batchOf(rank: number, step: number, rows: number): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array(rows * 784).map((_, i) => Math.sin(i * 0.37 + rank * 1.7 + step * 0.3));
  const y = new Int32Array(rows).map((_, i) => (i * 7 + rank + step) % 10);
  return { x, y };
}

const extras = (all: Float32Array, size: number, local: LocalStepResult): void => {
  all[size] = local.loss;
  all[size + 1] = local.correct;
};

for (const dtype of ['fp32', 'fp16'] as WireDtype[]) {
  test(
    `CNN on 2 ranks, ${dtype} wire: the backward pass in segments overlapped with the all-reduce gives today's reduced gradients bit for bit`,
    { skip },
    async () => {
      await mnistSlice(1, 1); // selects the wasm backend
      const model = buildModel({ ...DEFAULT_JOB.model, kind: 'cnn' }, [784], 10, 7);
      const layout = ParamLayout.ofModel(model);
      // One per rank, as each worker process has its own.
      const steps = [0, 1].map(() => FusedStep.of(model, layout, {}).step);
      const fused = steps[0];
      assert.ok(fused !== undefined && steps[1] !== undefined);
      const segments = fused.segments(65_536);
      assert.ok(segments.length > 1, 'the CNN has something to overlap');
      const params = new Float32Array(layout.size);
      layout.readWeights(params);
      const today = new MemoryHub('job', 2).endpoints().map((t) => new Communicator(t, { dtype }));
      const overlap = new MemoryHub('job', 2).endpoints().map((t) => new Communicator(t, { dtype }));
      for (let step = 0; step < 3; step++) {
        const a = today.map(() => new Float32Array(layout.size + EXTRA));
        const b = overlap.map(() => new Float32Array(layout.size + EXTRA));
        await Promise.all(
          today.map(async (c, r) => {
            const { x, y } = batchOf(r, step, 32);
            extras(a[r] as Float32Array, layout.size, fused.run(params, a[r] as Float32Array, x, y, 32, false, {}));
            await c.allReduceMean(a[r] as Float32Array);
          }),
        );
        const spans: number[][] = [[], []];
        await Promise.all(
          overlap.map(async (c, r) => {
            const { x, y } = batchOf(r, step, 32);
            const all = b[r] as Float32Array;
            const reducer = c.overlapped(all);
            assert.ok(reducer !== undefined, 'two ranks that talk by messages overlap');
            const input = { params, all, x, y, rows: 32, accumulate: false, loss: {} };
            await overlappedBackward(
              steps[r] as FusedStep,
              segments,
              input,
              reducer,
              (local) => extras(all, layout.size, local),
              (i) => spans[r]?.push(i),
            );
            await reducer.done();
          }),
        );
        assert.deepEqual(spans, [
          [0, 1],
          [0, 1],
        ]);
        for (let r = 0; r < 2; r++) assert.deepEqual(b[r], a[r], `step ${step}, rank ${r}`);
        assert.deepEqual(b[0], b[1], 'replicas agree');
        // The next step starts from updated weights, as training would.
        params.forEach((v, i) => (params[i] = v - 0.1 * (a[0]?.[i] as number)));
      }
      model.dispose();
    },
  );
}

test(
  'training the CNN on 2 ranks with the backward pass overlapped ends with the weights of the step without overlap, bit for bit, every replica alike; the steps show the segments and the all-reduces in flight',
  { skip, timeout: 240_000 },
  async () => {
    const data = await mnistSlice(512, 64);
    const run = async (
      overlap: 'on' | 'off',
    ): Promise<{ weights: Float32Array[]; overlapped: number; names: Set<string> }> => {
      const spec = specWith({
        model: { kind: 'cnn' },
        train: { epochs: 2, overlapBackward: overlap },
        data: { batchSize: 32 },
      });
      const names = new Set<string>();
      const ranks = await trainRanks({
        world: 2,
        spec,
        data,
        model: () => buildModel(spec.model, [784], 10, spec.seed),
        traceSpans: true,
        hooks: (rank) => ({
          onStepDetail: (st: StepInfo) =>
            void (rank === 0 && st.spans?.forEach((sp) => names.add(`${sp.track ?? 'steps'}: ${sp.name}`))),
        }),
      });
      for (const r of ranks) assert.equal(r.error, undefined, String(r.error));
      return { weights: ranks.map((r) => r.weights), overlapped: ranks[0]?.overlappedAllReduces ?? 0, names };
    };
    const on = await run('on');
    const off = await run('off');
    // 512 samples over 2 ranks in batches of 32: 8 steps an epoch.
    assert.equal(on.overlapped, 16, 'every step overlapped');
    assert.equal(off.overlapped, 0);
    assert.deepEqual(on.weights[1], on.weights[0], 'replicas agree');
    assert.deepEqual(on.weights[0], off.weights[0], 'overlap changed the weights');
    for (const name of [
      'steps: backward, segment 1 of 2',
      'steps: backward, segment 2 of 2',
      'wire: all-reduce of segment 1',
      'wire: all-reduce of segment 2',
    ])
      assert.ok(on.names.has(name), `${name} in ${[...on.names].join(', ')}`);
    assert.ok(![...off.names].some((n) => n.includes('segment')), [...off.names].join(', '));
  },
);

test(
  'overlap auto tries both ways, every rank makes the same choice at the same step, and the weights are those of the step without overlap, bit for bit',
  { skip, timeout: 240_000 },
  async () => {
    const data = await mnistSlice(512, 64);
    const train = async (overlap: 'auto' | 'off') => {
      const spec = specWith({
        model: { kind: 'cnn' },
        train: { epochs: 2, overlapBackward: overlap },
        data: { batchSize: 32 },
      });
      const choices: boolean[][] = [[], []];
      const ranks = await trainRanks({
        world: 2,
        spec,
        data,
        model: () => buildModel(spec.model, [784], 10, spec.seed),
        // 2 steps of warm-up, then a block with overlap and a block without, then the choice.
        overlapTrial: { after: 2, block: 2, blocks: 2 },
        hooks: (rank) => ({ onOverlapTuned: (on: boolean) => void choices[rank]?.push(on) }),
      });
      for (const r of ranks) assert.equal(r.error, undefined, String(r.error));
      return { ranks, choices };
    };
    const auto = await train('auto');
    const off = await train('off');
    const [mine, theirs] = auto.choices as [boolean[], boolean[]];
    assert.equal(mine.length, 1, 'one choice per rank');
    assert.deepEqual(theirs, mine, 'both ranks chose alike');
    // 16 steps: 2 of warm-up and 2 of the trial overlap, 2 do not, then the 10 after the choice.
    for (const r of auto.ranks) assert.equal(r.overlappedAllReduces, mine[0] === true ? 14 : 4, `rank ${r.rank}`);
    const line = (auto.ranks[0] as { logs: Record<string, unknown>[] }).logs.find((l) => l.event === 'overlap-tuned');
    assert.equal(line?.overlap, mine[0]);
    assert.ok((line?.msWith as number) > 0 && (line?.msWithout as number) > 0, JSON.stringify(line));
    assert.deepEqual(auto.ranks[1]?.weights, auto.ranks[0]?.weights, 'replicas agree');
    assert.deepEqual(auto.ranks[0]?.weights, off.ranks[0]?.weights, 'the trial changed the weights');
  },
);
