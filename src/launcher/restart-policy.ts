/**
 * What the launcher does with a child killed by a signal or declared lost, as torchrun's agent
 * with --max-restarts and min:max nnodes: restart it while the budget lasts; when it may not
 * (the budget is spent, or cluster.restartWorkers is false) a worker of a ring allowed to shrink
 * is left out, and the coordinator, which re-forms the ring or fails the job, has the last word.
 */
import { ringMayShrink, type ClusterSpec } from '../config';

export type RestartRule = Pick<ClusterSpec, 'maxRestarts' | 'minWorkers' | 'worldSize' | 'restartWorkers'>;

/** restart: start it again; leave-out: the ring goes on without it; fail: the job fails. */
export type LostAction = 'restart' | 'leave-out' | 'fail';

/** What happens to a lost child, a worker (`isWorker`) or the coordinator, with `restartsLeft` in the budget. */
export function lostAction(rule: RestartRule, isWorker: boolean, restartsLeft: number): LostAction {
  if (restartsLeft > 0 && (!isWorker || rule.restartWorkers)) return 'restart';
  return isWorker && ringMayShrink(rule) ? 'leave-out' : 'fail';
}

/** Why a worker is left out, for the launcher's line. */
export function leaveOutReason(rule: RestartRule): string {
  const why = rule.restartWorkers
    ? `no restarts left: ${rule.maxRestarts} of cluster.maxRestarts=${rule.maxRestarts} used`
    : 'cluster.restartWorkers=false';
  return `${why}; the ring goes on without it (cluster.minWorkers=${rule.minWorkers})`;
}
