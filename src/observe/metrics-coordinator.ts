/**
 * Job-level metrics the coordinator exports: one place to read the whole job's progress
 * without summing over workers. Registry injected, as for the worker metrics.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export type JobState = 'running' | 'done' | 'failed';
export const JOB_STATES: readonly JobState[] = ['running', 'done', 'failed'];

export interface CoordinatorMetrics {
  /** Workers holding a live lease. */
  workers: Gauge;
  /** Current ring generation. */
  generation: Gauge;
  /** One series per state; exactly one is 1. Change it only through `setState`. */
  state: Gauge<'state'>;
  epoch: Gauge;
  step: Gauge;
  /** Samples processed by the whole job, as reported by the workers. */
  samplesTotal: Counter;
  /** Workers admitted to the job, counting re-joins after a failure. */
  joinsTotal: Counter;
  /** Sets `state` to 1 and every other state to 0. */
  setState(state: JobState): void;
}

/** Registers the coordinator metrics on `registry`; the job starts in state `running`. */
export function createCoordinatorMetrics(registry: Registry): CoordinatorMetrics {
  const registers = [registry];
  const state = new Gauge({
    name: 'ringtrain_job_state',
    help: 'Job state: 1 for the current state, 0 for the others.',
    labelNames: ['state'] as const,
    registers,
  });
  const setState = (current: JobState): void => {
    for (const s of JOB_STATES) state.set({ state: s }, s === current ? 1 : 0);
  };
  setState('running');
  return {
    workers: new Gauge({ name: 'ringtrain_job_workers', help: 'Workers with a live lease.', registers }),
    generation: new Gauge({
      name: 'ringtrain_job_generation',
      help: 'Current ring generation.',
      registers,
    }),
    state,
    epoch: new Gauge({ name: 'ringtrain_job_epoch', help: 'Current job epoch (0-based).', registers }),
    step: new Gauge({ name: 'ringtrain_job_step', help: 'Optimizer steps completed by the job.', registers }),
    samplesTotal: new Counter({
      name: 'ringtrain_job_samples_total',
      help: 'Training samples processed by all workers.',
      registers,
    }),
    joinsTotal: new Counter({
      name: 'ringtrain_job_joins_total',
      help: 'Workers admitted to the job, including re-joins.',
      registers,
    }),
    setState,
  };
}
