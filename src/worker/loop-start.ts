/**
 * Where a training loop starts, agreed by every rank: rank 0's latest checkpoint when the job
 * resumes, or a surviving rank's live state when a re-formed ring continues (no disk), else
 * fresh weights. Only the deciding rank's view counts (broadcastStart), so ranks never disagree.
 */
import type { Communicator } from '../allreduce';
import { RingtrainError } from '../core';
import type { Logger } from '../observe';
import { findLatestCheckpoint, type Checkpoint } from './checkpoint-store';
import { broadcastStart, type StartDecision } from './train-state';

/** rank 0's --resume directory looked up and shared; `where` names the checkpoint found. */
export async function agreeOnStart(
  comm: Communicator,
  log: Logger,
  resumeFrom: string | undefined,
): Promise<{ start: Exclude<StartDecision, { kind: 'missing' }>; where: string }> {
  let decision: StartDecision = { kind: 'fresh' };
  let where = '';
  if (comm.rank === 0 && resumeFrom !== undefined) {
    const found = findLatestCheckpoint(resumeFrom, (m) => log.warn({ event: 'checkpoint-skipped' }, m));
    decision = found === undefined ? { kind: 'missing' } : { kind: 'resume', ckpt: found.ckpt };
    where = found?.dir ?? '';
  }
  const start = await broadcastStart(comm, decision);
  if (start.kind === 'missing') {
    throw new RingtrainError(
      'DATA_INVALID',
      `--resume ${resumeFrom ?? '(on rank 0)'}: no usable checkpoint there (rank 0 looked for ckpt-* directories in it, in its checkpoints/ folder, or the path itself): check the path, or start without --resume`,
    );
  }
  if (start.kind === 'resume') where ||= `rank 0's checkpoint of step ${start.ckpt.step}`;
  return { start, where };
}

/** A re-formed ring: `sourceRank` hands everyone its live state; returns it and where it came from. */
export async function takeLiveState(
  comm: Communicator,
  sourceRank: number,
  state: Checkpoint | undefined,
): Promise<{ ckpt: Checkpoint; where: string }> {
  const mine: StartDecision = state !== undefined ? { kind: 'resume', ckpt: state } : { kind: 'missing' };
  const got = await broadcastStart(comm, mine, sourceRank);
  if (got.kind !== 'resume')
    throw new RingtrainError(
      'JOB_FAILED',
      `rank ${sourceRank} was named the state source of the re-formed ring but holds no training state`,
    );
  return { ckpt: got.ckpt, where: `rank ${sourceRank}'s live state at step ${got.ckpt.step}` };
}
