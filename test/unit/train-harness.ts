/**
 * Runs the real TrainLoop on W ranks inside one process over the in-memory ring, for the
 * training-loop tests (accumulation, resume, early stopping, non-finite guard). Not a test file:
 * importing it has no side effects.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { Registry } from 'prom-client';
import { Communicator, MemoryHub } from '../../src/allreduce';
import { selectBackend } from '../../src/compute';
import { DEFAULT_JOB, type JobSpec } from '../../src/config';
import {
  loadMnist,
  readRows,
  sliceSplit,
  type Augmentation,
  type BatchTransform,
  type FloatRows,
  type Split,
} from '../../src/data';
import { createLogger, createWorkerMetrics, type WorkerMetrics } from '../../src/observe';
import { buildMlp } from '../../src/train';
export { relativeDifference } from './support';
import { TrainLoop, type TrainHooks, type TrainResult } from '../../src/worker/train-loop';
import type { OverlapTrial } from '../../src/worker/overlap-tuner';

/** A deep partial of the job spec, merged over DEFAULT_JOB. */
export type SpecPatch = {
  [K in keyof JobSpec]?: JobSpec[K] extends object
    ? { [L in keyof JobSpec[K]]?: JobSpec[K][L] extends object ? Partial<JobSpec[K][L]> : JobSpec[K][L] }
    : JobSpec[K];
};

export function specWith(patch: SpecPatch): JobSpec {
  const s = structuredClone(DEFAULT_JOB);
  s.model = { ...s.model, hidden: [32] };
  s.checkpoint = { ...s.checkpoint, everyEpochs: 0 };
  for (const [key, value] of Object.entries(patch)) {
    const k = key as keyof JobSpec;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const target = s[k] as unknown as Record<string, unknown>;
      for (const [k2, v2] of Object.entries(value as Record<string, unknown>)) {
        const cur = target[k2];
        target[k2] =
          typeof cur === 'object' && cur !== null && !Array.isArray(cur)
            ? { ...(cur as object), ...(v2 as object) }
            : v2;
      }
    } else {
      (s as unknown as Record<string, unknown>)[k] = value;
    }
  }
  return s;
}

export interface RankOutcome {
  rank: number;
  result?: TrainResult;
  error?: Error;
  weights: Float32Array;
  logs: Record<string, unknown>[];
  metrics: WorkerMetrics;
  registry: Registry;
  /** Gradient all-reduces this rank ran during training steps. */
  gradientAllReduces: number;
  /** Steps whose all-reduce overlapped the backward pass (Communicator.overlapped). */
  overlappedAllReduces: number;
  /** The model's non-trainable buffers (batch-norm statistics) after training. */
  buffers: Float32Array;
}

export interface RanksOptions {
  world: number;
  spec: JobSpec;
  data: { train: Split; val: Split };
  checkpointDir?: string;
  resumeFrom?: string;
  /** Hooks for one rank; `loop` gives the rank's loop once it exists (to read its weights). */
  hooks?: (rank: number, loop: () => TrainLoop) => TrainHooks;
  /** Each rank's batch transform for an epoch (rank: whose batches it sees). */
  augment?: (epoch: number, rank: number) => BatchTransform;
  /** Each rank's augmentation as the worker makes it (threads, say); instead of `augment`. */
  augmentation?: (rank: number) => Augmentation;
  /** Lets a test see or alter one rank's loop before it runs. */
  before?: (rank: number, loop: TrainLoop) => void;
  /** Gradient bucket cap in elements (default: DDP's 25 MB). */
  bucketElements?: number;
  /** The model of each rank (default: the spec's mlp, seeded differently per rank). */
  model?: (rank: number) => tfl.LayersModel;
  /** train.distill's teacher, for every rank. */
  teacher?: tfl.LayersModel;
  /** Record each step's spans (StepInfo.spans), as for a trace. */
  traceSpans?: boolean;
  /** overlap auto's trial, shortened for a test. */
  overlapTrial?: OverlapTrial;
}

let cache: { train: Split; val: Split } | undefined;

/** The first `train` training and `val` test samples of MNIST (cached across tests). */
export async function mnistSlice(train: number, val: number): Promise<{ train: Split; val: Split }> {
  await selectBackend('wasm');
  cache ??= (({ train: tr, test }) => ({ train: tr, val: test }))(loadMnist({ trainLimit: 4096, testLimit: 1000 }));
  return { train: sliceSplit(cache.train, 0, train), val: sliceSplit(cache.val, 0, val) };
}

/** The split with its rows as a float32 copy a test may write into (to poison or reorder samples). */
export function writableFloatRows(s: Split): Split & FloatRows {
  return { ...s, images: readRows(s, 0, s.count).slice(), decode: undefined };
}

/** Trains W ranks to completion (or failure) and returns each rank's weights and logs. */
export async function trainRanks(o: RanksOptions): Promise<RankOutcome[]> {
  const hub = new MemoryHub(o.spec.name, o.world, 10_000);
  const outcomes = hub.endpoints().map(async (transport, rank): Promise<RankOutcome> => {
    const comm = new Communicator(transport, { bucketElements: o.bucketElements });
    let gradientAllReduces = 0;
    const mean = comm.allReduceMean.bind(comm);
    comm.allReduceMean = (buf: Float32Array, pack?: (start: number, end: number) => void) => {
      gradientAllReduces += 1;
      return mean(buf, pack);
    };
    let overlappedAllReduces = 0;
    const overlapped = comm.overlapped.bind(comm);
    comm.overlapped = (buf: Float32Array) => {
      const r = overlapped(buf);
      if (r !== undefined) overlappedAllReduces += 1;
      return r;
    };
    const logs: Record<string, unknown>[] = [];
    const log = createLogger({
      job: o.spec.name,
      role: 'worker',
      rank,
      level: 'info',
      destination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
    });
    const registry = new Registry();
    const metrics = createWorkerMetrics(registry, rank, 'wasm');
    // Ranks above 0 start from other weights on purpose: the broadcast (or resume) must win.
    const model =
      o.model?.(rank) ?? buildMlp(o.spec.model, o.data.train.features, o.data.train.classes, o.spec.seed + 1000 * rank);
    let self: TrainLoop | undefined;
    const loop = new TrainLoop({
      spec: o.spec,
      comm,
      model,
      data: o.data,
      shard: { seed: o.spec.seed, shuffle: o.spec.data.shuffle, dropLast: false },
      checkpointDir: o.checkpointDir ?? '',
      // Only rank 0 is told: whether to resume is its decision alone.
      resumeFrom: rank === 0 ? o.resumeFrom : undefined,
      log,
      metrics,
      hooks: o.hooks?.(rank, () => self as TrainLoop),
      augment:
        o.augmentation?.(rank) ??
        (o.augment === undefined
          ? undefined
          : (epoch: number) => (o.augment as (e: number, r: number) => BatchTransform)(epoch, rank)),
      teacher: o.teacher,
      traceSpans: o.traceSpans,
      overlapTrial: o.overlapTrial,
    });
    self = loop;
    o.before?.(rank, loop);
    let result: TrainResult | undefined;
    let error: Error | undefined;
    try {
      await loop.initialize();
      result = await loop.run();
    } catch (e) {
      error = e as Error;
      transport.abort(error);
    }
    const weights = loop.params.slice();
    const buffers = new Float32Array(loop.buffers.size);
    loop.buffers.readWeights(buffers);
    model.dispose();
    return { rank, result, error, weights, logs, metrics, registry, gradientAllReduces, overlappedAllReduces, buffers };
  });
  return Promise.all(outcomes);
}

export function tensorsAlive(): number {
  return tf.memory().numTensors;
}
