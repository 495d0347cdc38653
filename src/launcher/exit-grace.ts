/**
 * The end of a job: once one process finished it (exit code 0), the others follow within
 * seconds. One that does not (a cleanup stuck on a socket, say) must not hold the launcher
 * forever: after EXIT_GRACE_MS the launcher names and stops it. A CI run once saw a 2-worker
 * job whose every worker and coordinator had logged the end, yet the launcher waited until the
 * test's 180 s timeout.
 */

/** How long the other processes get to exit after one finished the job. */
export const EXIT_GRACE_MS = 30_000;

/** Whatever can be waited on to exit. */
export interface Exiting {
  exited: Promise<unknown>;
  done?: boolean;
}

/** Waits up to `graceMs` for every one of `running` to exit; returns those still running then. */
export async function notExitedWithin<T extends Exiting>(running: readonly T[], graceMs: number): Promise<T[]> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, graceMs);
  });
  await Promise.race([Promise.all(running.map((c) => c.exited)), late]);
  clearTimeout(timer);
  return running.filter((c) => c.done !== true);
}
