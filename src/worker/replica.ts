/**
 * One rank's replica: the weights and everything that moves them (optimizer, schedule, early
 * stopping's best), and how that state becomes a checkpoint's arrays and comes back from one.
 * The loop's parts share this object; the counters that say where training stands live beside
 * it (train-state.ts).
 */
import type { Communicator } from '../allreduce';
import type { OptimizerName } from '../config';
import type { EarlyStopping, FlatOptimizer, LrSchedule, ParamLayout } from '../train';
import type { Checkpoint } from './checkpoint-store';
import {
  ARRAY_BEST_BUFFERS,
  ARRAY_BEST_PARAMS,
  ARRAY_BUFFERS,
  ARRAY_FROZEN,
  ARRAY_PARAMS,
  ARRAY_PRUNE_MASK,
  OPT_PREFIX,
  countersOf,
  optimizerSlotsOf,
  requireArray,
  type TrainCounters,
} from './train-state';

export interface Replica {
  readonly layout: ParamLayout;
  readonly buffers: ParamLayout;
  /** Weights of frozen layers (model.freeze): outside `layout`, so never all-reduced or updated. */
  readonly frozen: ParamLayout;
  /** Master copy of the trainable weights; the optimizer updates it, then the tfjs variables. */
  readonly params: Float32Array;
  /** train.prune's mask over `params` (1 live, 0 pruned); undefined without pruning. */
  readonly mask: Float32Array | undefined;
  readonly optimizer: FlatOptimizer;
  readonly schedule: LrSchedule;
  readonly early: EarlyStopping;
  /** The weights of the best epoch so far (earlyStopping.restoreBest). */
  best: { params: Float32Array; buffers: Float32Array } | undefined;
}

/** The names and shapes of the replica's weights, as checkpoints record them. */
export function weightNamesOf(r: Replica): NonNullable<TrainCounters['weightNames']> {
  const entries = (l: ParamLayout): { name: string; shape: number[] }[] =>
    l.slots.map((s, i) => ({ name: l.weightNames[i] as string, shape: s.shape }));
  return { params: entries(r.layout), buffers: entries(r.buffers), frozen: entries(r.frozen) };
}

/** The counters of a job `job` that has not taken a step, on `worldSize` ranks. */
export function freshCounters(r: Replica, job: string, optimizer: OptimizerName, worldSize: number): TrainCounters {
  return {
    job,
    epoch: 0,
    batchInEpoch: 0,
    step: 0,
    worldSize,
    partial: [0, 0, 0],
    nonFiniteSkipped: 0,
    optimizer: { name: optimizer, steps: 0 },
    schedule: {},
    earlyStopping: r.early.state(),
    paramShapes: r.layout.shapes(),
    weightNames: weightNamesOf(r),
  };
}

/**
 * The replica's arrays (weights, buffers, optimizer slots, best weights), with `c` brought up to
 * date; `keep` copies what outlives this moment (a snapshot) or not (a write).
 */
export function stateArrays(
  r: Replica,
  c: TrainCounters,
  keep: (a: Float32Array) => Float32Array,
): Map<string, Float32Array> {
  const opt = r.optimizer.state();
  c.optimizer = { name: opt.name, steps: opt.steps };
  c.schedule = r.schedule.state();
  c.earlyStopping = r.early.state();
  const arrays = new Map<string, Float32Array>();
  arrays.set(ARRAY_PARAMS, keep(r.params));
  arrays.set(ARRAY_BUFFERS, readAll(r.buffers));
  if (r.frozen.size > 0) arrays.set(ARRAY_FROZEN, readAll(r.frozen));
  if (r.mask !== undefined) arrays.set(ARRAY_PRUNE_MASK, keep(r.mask));
  for (const [name, a] of Object.entries(opt.slots)) arrays.set(OPT_PREFIX + name, keep(a));
  if (r.best !== undefined) {
    arrays.set(ARRAY_BEST_PARAMS, keep(r.best.params));
    arrays.set(ARRAY_BEST_BUFFERS, keep(r.best.buffers));
  }
  return arrays;
}

function readAll(l: ParamLayout): Float32Array {
  const out = new Float32Array(l.size);
  l.readWeights(out);
  return out;
}

/** Puts a checkpoint's state into the replica; returns its counters (checked against the model). */
export function restoreReplica(r: Replica, ckpt: Checkpoint, where: string): TrainCounters {
  const c = countersOf(ckpt, where, r.layout.shapes());
  r.params.set(requireArray(ckpt, ARRAY_PARAMS, r.layout.size, where));
  r.layout.writeWeights(r.params);
  r.buffers.writeWeights(requireArray(ckpt, ARRAY_BUFFERS, r.buffers.size, where));
  if (r.frozen.size > 0) r.frozen.writeWeights(requireArray(ckpt, ARRAY_FROZEN, r.frozen.size, where));
  if (r.mask !== undefined) {
    // A checkpoint from before pruning (or without it) has no mask: everything is live.
    if (ckpt.arrays.has(ARRAY_PRUNE_MASK)) r.mask.set(requireArray(ckpt, ARRAY_PRUNE_MASK, r.layout.size, where));
    else r.mask.fill(1);
  }
  r.optimizer.load({ name: c.optimizer.name, steps: c.optimizer.steps, slots: optimizerSlotsOf(ckpt) });
  r.schedule.load(c.schedule);
  r.early.load(c.earlyStopping);
  if (ckpt.arrays.has(ARRAY_BEST_PARAMS)) {
    r.best = {
      params: requireArray(ckpt, ARRAY_BEST_PARAMS, r.layout.size, where).slice(),
      buffers: requireArray(ckpt, ARRAY_BEST_BUFFERS, r.buffers.size, where).slice(),
    };
  }
  return c;
}

/**
 * A position taken over by a ring of `worldSize` ranks. Mid-epoch on another ring size, what the
 * old ring consumed becomes an offset into the epoch's order, and the rest of the epoch is
 * re-sharded over the new ring (distributedIndices' offset). Returns whether it re-sharded.
 */
export function reshard(c: TrainCounters, batchSize: number, worldSize: number): boolean {
  const moved = c.batchInEpoch > 0 && c.worldSize !== worldSize;
  if (moved) {
    c.epochOffset = (c.epochOffset ?? 0) + c.batchInEpoch * batchSize * c.worldSize;
    c.batchInEpoch = 0;
  }
  c.worldSize = worldSize;
  return moved;
}

/** Fresh start: every rank takes rank 0's weights (frozen ones travel once, here). */
export async function broadcastWeights(r: Replica, comm: Communicator): Promise<void> {
  const p = r.layout.size;
  const b = p + r.buffers.size;
  const all = new Float32Array(b + r.frozen.size);
  if (comm.rank === 0) {
    r.layout.readWeights(all.subarray(0, p));
    r.buffers.readWeights(all.subarray(p, b));
    r.frozen.readWeights(all.subarray(b));
  }
  await comm.broadcast(all, 0);
  r.params.set(all.subarray(0, p));
  r.layout.writeWeights(r.params);
  r.buffers.writeWeights(all.subarray(p, b));
  if (r.frozen.size > 0) r.frozen.writeWeights(all.subarray(b));
}
