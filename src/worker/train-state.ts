/**
 * The training state that a checkpoint holds and a resume restores: weights (trainable and not),
 * optimizer slots, the best weights early stopping kept, and the counters that say where
 * training stands (epoch, batch within it, optimizer step, schedule and early-stopping state).
 *
 * On resume only rank 0 reads the disk; it broadcasts what it found over the ring (a header, the
 * counters as JSON, then the arrays in one buffer), so workers on other machines need no shared
 * file system and every rank starts from the same bytes. The coordinator is not involved.
 */
import type { Communicator } from '../allreduce';
import { RingtrainError } from '../core';
import type { OptimizerName } from '../config';
import type { EarlyStoppingState, ScheduleState } from '../train';
import { decodeMeta, encodeMeta, type Checkpoint } from './checkpoint-store';

export interface WeightEntry {
  name: string;
  shape: number[];
}

/** Where training stands, and everything besides arrays that resuming needs. */
export interface TrainCounters {
  job: string;
  /** 0-based epoch in progress, or the next one when `batchInEpoch` is 0. */
  epoch: number;
  /** Micro-batches of `epoch` already consumed (the sampler position). */
  batchInEpoch: number;
  /** Optimizer steps taken. */
  step: number;
  /** World size that produced this position: a mid-epoch position only holds for the same one. */
  worldSize: number;
  /**
   * Positions of the epoch's order consumed by earlier rings of another size (elastic re-shard);
   * `batchInEpoch` counts batches of the current ring after them. Absent in older checkpoints.
   */
  epochOffset?: number;
  /** Global [loss sum, correct, samples] of the epoch in progress up to `batchInEpoch`. */
  partial: [number, number, number];
  nonFiniteSkipped: number;
  optimizer: { name: OptimizerName; steps: number };
  schedule: ScheduleState;
  earlyStopping: EarlyStoppingState;
  /** Shapes of the trainable variables in layout order: a resume into another model fails early. */
  paramShapes: number[][];
  /**
   * The 'layer/weight' name and shape of each weight in the params, buffers and frozen arrays, in
   * order, so model.initFrom can take weights from a checkpoint by name. Absent in older checkpoints.
   */
  weightNames?: { params: WeightEntry[]; buffers: WeightEntry[]; frozen: WeightEntry[] };
  /** Val metrics just before pruning began (train.prune), for the before/after line. */
  pruneBefore?: { epoch: number; loss: number; accuracy: number };
}

export const ARRAY_PARAMS = 'params';
export const ARRAY_BUFFERS = 'buffers';
/** Weights of frozen layers (model.freeze): never trained, but part of the state. */
export const ARRAY_FROZEN = 'frozen';
/** The pruning mask over `params` (1 live, 0 pruned), when train.prune is on. */
export const ARRAY_PRUNE_MASK = 'prune/mask';
export const ARRAY_BEST_PARAMS = 'best/params';
export const ARRAY_BEST_BUFFERS = 'best/buffers';
export const OPT_PREFIX = 'opt/';

/** What rank 0 decided at start, in the first broadcast every rank runs. */
const FRESH = 0;
const RESUME = 1;
const MISSING = 2;

/** Encodes text as one float per UTF-16 unit (exact: every unit is < 2^24). */
function textToFloats(text: string): Float32Array {
  const out = new Float32Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

function floatsToText(f: Float32Array): string {
  let s = '';
  for (let i = 0; i < f.length; i += 4096) s += String.fromCharCode(...Array.from(f.subarray(i, i + 4096)));
  return s;
}

export type StartDecision = { kind: 'fresh' } | { kind: 'missing' } | { kind: 'resume'; ckpt: Checkpoint };

/**
 * Every rank calls this first; only rank 0's `decision` counts (the others pass anything). So
 * whether a job resumes is rank 0's call alone, and ranks can never run mismatched collectives
 * because one of them was started with --resume and another was not. For a resume, the
 * checkpoint follows: its counters as JSON text, then all arrays in one buffer.
 */
export async function broadcastStart(comm: Communicator, decision: StartDecision, root = 0): Promise<StartDecision> {
  const header = new Float32Array(2);
  let meta = '';
  if (comm.rank === root) {
    if (decision.kind === 'resume') {
      const table = [...decision.ckpt.arrays].map(([name, a]) => ({ name, length: a.length }));
      meta = encodeMeta({ step: decision.ckpt.step, meta: decision.ckpt.meta, table });
    }
    header.set([decision.kind === 'fresh' ? FRESH : decision.kind === 'missing' ? MISSING : RESUME, meta.length]);
  }
  await comm.broadcast(header, root);
  if (header[0] === FRESH) return { kind: 'fresh' };
  if (header[0] === MISSING) return { kind: 'missing' };
  const metaFloats = comm.rank === root ? textToFloats(meta) : new Float32Array(header[1] as number);
  await comm.broadcast(metaFloats, root);
  const decoded = decodeMeta(floatsToText(metaFloats)) as {
    step: number;
    meta: unknown;
    table: { name: string; length: number }[];
  };
  const total = decoded.table.reduce((n, e) => n + e.length, 0);
  const all = new Float32Array(total);
  if (comm.rank === root && decision.kind === 'resume') {
    let off = 0;
    for (const e of decoded.table) {
      all.set(decision.ckpt.arrays.get(e.name) as Float32Array, off);
      off += e.length;
    }
  }
  await comm.broadcast(all, root);
  const arrays = new Map<string, Float32Array>();
  let off = 0;
  for (const e of decoded.table) {
    arrays.set(e.name, all.subarray(off, off + e.length));
    off += e.length;
  }
  return { kind: 'resume', ckpt: { step: decoded.step, meta: decoded.meta, arrays } };
}

/** The counters of a checkpoint, checked against the model this job built. */
export function countersOf(ckpt: Checkpoint, where: string, paramShapes: number[][]): TrainCounters {
  const c = ckpt.meta as TrainCounters;
  if (typeof c !== 'object' || c === null || typeof c.step !== 'number' || !Array.isArray(c.paramShapes)) {
    throw new RingtrainError(
      'DATA_INVALID',
      `checkpoint ${where} has no training counters: was it written by ringtrain?`,
    );
  }
  const want = JSON.stringify(paramShapes);
  const got = JSON.stringify(c.paramShapes);
  if (want !== got) {
    throw new RingtrainError(
      'DATA_INVALID',
      `checkpoint ${where} holds variables of shapes ${got}, but this job's model has ${want}: resume with the model (and model.freeze) the checkpoint was trained with`,
    );
  }
  return c;
}

/** The optimizer slot arrays of a checkpoint, keyed by slot name. */
export function optimizerSlotsOf(ckpt: Checkpoint): Record<string, Float32Array> {
  const slots: Record<string, Float32Array> = {};
  for (const [name, a] of ckpt.arrays) if (name.startsWith(OPT_PREFIX)) slots[name.slice(OPT_PREFIX.length)] = a;
  return slots;
}

export function requireArray(ckpt: Checkpoint, name: string, length: number, where: string): Float32Array {
  const a = ckpt.arrays.get(name);
  if (a === undefined || a.length !== length) {
    throw new RingtrainError(
      'DATA_INVALID',
      `checkpoint ${where}: array '${name}' has ${a?.length ?? 'no'} values, expected ${length}`,
    );
  }
  return a;
}
