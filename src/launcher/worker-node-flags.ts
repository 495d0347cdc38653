/**
 * Node/V8 flags for the worker processes `ringtrain launch` starts.
 *
 * --single-threaded-gc: a worker is meant to fill one core (wasm runs one thread under Node), and
 * V8's concurrent and parallel GC threads would run on the cores of the other workers. V8 takes the
 * flag only on the command line: NODE_OPTIONS refuses it and setting it at run time crashes V8.
 * RINGTRAIN_WORKER_GC=concurrent keeps V8's default.
 *
 * --max-semi-space-size=32 (MB; V8's default tops out at 16): a training step makes tensors and
 * buffers that live a step or a few, and with the default young generation enough of them are
 * still alive at each scavenge to be promoted, so the old generation fills and every scavenge
 * copies more. In a data-parallel job each pause of one rank stalls the others at the next
 * all-reduce. A --max-semi-space-size the launcher itself was given is passed on instead.
 */
export const SINGLE_THREADED_GC = '--single-threaded-gc';
export const YOUNG_GENERATION = '--max-semi-space-size=32';

export function workerNodeFlags(execArgv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const flags = [...execArgv];
  if (env.RINGTRAIN_WORKER_GC !== 'concurrent' && !flags.includes(SINGLE_THREADED_GC)) flags.push(SINGLE_THREADED_GC);
  if (!flags.some((f) => f.startsWith('--max-semi-space-size'))) flags.push(YOUNG_GENERATION);
  return flags;
}
