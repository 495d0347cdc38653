/**
 * Node/V8 flags for the worker processes `ringtrain launch` starts.
 *
 * --single-threaded-gc: a worker is meant to fill one core (wasm runs one thread under Node), and
 * V8's concurrent and parallel GC threads then run on the cores of the other workers. Measured on
 * 2 cores with 2 workers: gRPC jobs +14% (CNN) to +18% (MLP) samples/s, TCP and single-worker
 * jobs unchanged, and a 100 MB gRPC all-reduce repeated 3 times stayed at 143-175 ms instead of
 * slowing from 175 to 227 ms. V8 takes the flag only on the command line: NODE_OPTIONS refuses
 * it and setting it at run time crashes V8. RINGTRAIN_WORKER_GC=concurrent keeps V8's default.
 */
export const SINGLE_THREADED_GC = '--single-threaded-gc';

export function workerNodeFlags(execArgv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  if (env.RINGTRAIN_WORKER_GC === 'concurrent' || execArgv.includes(SINGLE_THREADED_GC)) return [...execArgv];
  return [...execArgv, SINGLE_THREADED_GC];
}
