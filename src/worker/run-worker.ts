/**
 * The worker process, top to bottom: pick a backend, load the data, open the ring port, join,
 * take rank 0's weights, then for each step compute local gradients, average them over the ring
 * and apply the same update as every other rank. Each epoch ends with a distributed evaluation
 * whose sums are all-reduced, so every rank sees the same metrics.
 *
 * With `cluster.maxRestarts` > 0 the worker is elastic: when its ring breaks (a neighbour died,
 * the coordinator re-forms the ring or restarted), it keeps its live training state, joins the
 * next generation, and either hands that state to the new ring (when the coordinator names it
 * the state source) or takes the source's, then trains on from there. life-cycle.ts decides
 * each of those moves; worker-session.ts carries them out.
 */
import { selectBackend } from '../compute';
import { retainFreedMemory } from '../native';
import { loadDataset } from '../data';
import { systemClock } from './clock';
import type { WorkerSummary } from './finish-run';
import { TierUpStop, tuneJit } from './jit-tiering';
import type { WorkerOptions } from './worker-options';
import { WorkerSession } from './worker-session';

export type { WorkerOptions } from './worker-options';
export type { WorkerSummary } from './finish-run';

/** One worker process, from its backend to its goodbye (or the error it gave up with). */
export async function runWorker(o: WorkerOptions): Promise<WorkerSummary> {
  const { spec, log } = o;
  // Before any ring traffic: the buffers messages pass through are malloc'd and freed per message.
  const memory = retainFreedMemory();
  const jit = tuneJit();
  const backend = await selectBackend(spec.backend, (msg) => log.info(msg));
  const kernelNote =
    backend.kernelsWhy === undefined ? backend.kernels : `${backend.kernels}, not native: ${backend.kernelsWhy}`;
  // Which GC the process runs (launch gives workers --single-threaded-gc; see worker-node-flags.ts).
  const gc = process.execArgv.includes('--single-threaded-gc') ? 'single-threaded' : 'concurrent';
  log.info(
    {
      backend: backend.name,
      kernels: backend.kernels,
      tried: backend.tried,
      gc,
      malloc: memory.applied ? 'retain' : 'default',
      jit: jit.applied ? 'early' : 'default',
    },
    `compute backend: ${backend.name} (kernels: ${kernelNote}; gc: ${gc}; malloc: ${memory.note}; jit: ${jit.note})`,
  );
  const data = loadDataset(spec.data);
  const tierUp = new TierUpStop(jit.stopAfterSteps);
  return new WorkerSession(o, { backend, data, tierUp }, o.clock ?? systemClock).execute();
}
