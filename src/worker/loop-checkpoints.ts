/**
 * The loop's state as a checkpoint: rank 0 writing it to disk, and the live snapshot a surviving
 * rank hands a re-formed ring. Both are valid at a step boundary, which is where an aborted
 * collective leaves the loop: weights and counters change only after a step's all-reduce.
 */
import type { Clock } from './clock';
import { writeCheckpoint, type Checkpoint } from './checkpoint-store';
import { stateArrays, type Replica } from './replica';
import type { TrainCounters } from './train-state';
import type { TrainLoopOptions } from './train-types';

/** What writing a checkpoint needs from the loop's options. */
export type CheckpointOptions = Pick<TrainLoopOptions, 'comm' | 'checkpointDir' | 'log' | 'spec' | 'hooks'>;

/**
 * The live training state (nothing written). `running` holds the interrupted epoch's train sums
 * up to the last completed step over every rank of the old ring, the lost one included, so the
 * new ring's epoch line covers the whole epoch.
 */
export function liveSnapshot(replica: Replica, c: TrainCounters, running: readonly number[]): Checkpoint {
  const arrays = stateArrays(replica, c, (a) => a.slice());
  const partial: [number, number, number] =
    c.batchInEpoch > 0 ? [running[0] as number, running[1] as number, running[2] as number] : [0, 0, 0];
  return { step: c.step, meta: { ...c, partial }, arrays };
}

/** Rank 0 writes the current state; returns its path (undefined on other ranks, when off, or when the write failed). */
export function writeLoopCheckpoint(
  o: CheckpointOptions,
  replica: Replica,
  c: TrainCounters,
  clock: Clock,
): string | undefined {
  const { comm, checkpointDir, log, spec, hooks } = o;
  if (comm.rank !== 0 || checkpointDir === '') return undefined;
  const started = clock.ns();
  // Written to disk before training goes on: live views will do.
  const arrays = stateArrays(replica, c, (a) => a);
  let dir: string;
  try {
    dir = writeCheckpoint(
      checkpointDir,
      { step: c.step, meta: c, arrays },
      { keep: spec.checkpoint.keep, onProgress: hooks?.onCheckpointProgress },
    );
  } catch (e) {
    if (hooks?.onWriteFailed === undefined) throw e;
    hooks.onWriteFailed(`checkpoint of step ${c.step}`, e);
    return undefined;
  }
  const seconds = Number(clock.ns() - started) / 1e9;
  log.info(
    { event: 'checkpoint', dir, step: c.step, epoch: c.epoch, batchInEpoch: c.batchInEpoch, seconds },
    `checkpoint ${dir}`,
  );
  return dir;
}
