/**
 * Job-level metrics the coordinator exports: one place to read the whole job's progress
 * without summing over workers. Registry injected, as for the worker metrics.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export type JobState = 'running' | 'done' | 'failed';
export const JOB_STATES: readonly JobState[] = ['running', 'done', 'failed'];

/** The splits a worker reports; anything else is dropped so a label stays bounded. */
export const EPOCH_SPLITS: readonly string[] = ['train', 'val'];

/** One split of one finished epoch, as rank 0 reports it. */
export interface EpochSummary {
  split: string;
  loss: number;
  accuracy: number;
  /** Global samples/s; only the train split's value means throughput. */
  samplesPerSec: number;
}

export interface CoordinatorMetrics {
  /** Workers holding a live lease. */
  workers: Gauge;
  /** Current ring generation. */
  generation: Gauge;
  /** One series per state; exactly one is 1. Change it only through `setState`. */
  state: Gauge<'state'>;
  /** Epochs the job has completed, as reported by rank 0. */
  epoch: Gauge;
  step: Gauge;
  /** Samples processed by the whole job, as reported by the workers. */
  samplesTotal: Counter;
  /** Workers admitted to the job, counting re-joins after a failure. */
  joinsTotal: Counter;
  /** Workers the job trains with; alerts compare `workers` against it. */
  worldSize: Gauge;
  /**
   * Global training throughput of the last finished epoch as rank 0 measured it (training time
   * only, evaluation excluded); `rate(ringtrain_job_samples_total[...])` is the wall-clock view.
   */
  samplesPerSecond: Gauge;
  /** Loss of the last finished epoch by split (train|val), averaged over the whole job. */
  loss: Gauge<'split'>;
  /** Accuracy (0..1) of the last finished epoch by split (train|val). */
  accuracy: Gauge<'split'>;
  /**
   * Times the job re-formed its ring after losing a worker. Always 0 until elastic restarts
   * exist; exported now so alerts and dashboards need no change when they arrive.
   */
  restartsTotal: Counter;
  /** Seconds the last re-formation took, from losing a worker to the new ring. */
  recoverySeconds: Gauge;
  /** Calls and joins refused, by reason (token | config | model | full | other). */
  refusedTotal: Counter<'reason'>;
  /** 1 for each rank the coordinator currently names a straggler, 0 once it recovers. */
  straggler: Gauge<'rank'>;
  /** Sets `state` to 1 and every other state to 0. */
  setState(state: JobState): void;
  /** Marks exactly `ranks` as stragglers (the coordinator's verdict after each heartbeat). */
  setStragglers(ranks: readonly number[]): void;
  /** Updates loss, accuracy and (for the train split) samples/s from an epoch report. */
  recordEpoch(e: EpochSummary): void;
}

type Registers = Registry[];

/** The job-state gauge (one series per state, 1 for the current one) and its setter. */
function stateMetric(registers: Registers): Pick<CoordinatorMetrics, 'state' | 'setState'> {
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
  return { state, setState };
}

/** The last epoch's throughput, loss and accuracy, and the setter an epoch report calls. */
type EpochMetric = 'samplesPerSecond' | 'loss' | 'accuracy' | 'recordEpoch';
function epochMetrics(registers: Registers): Pick<CoordinatorMetrics, EpochMetric> {
  const samplesPerSecond = new Gauge({
    name: 'ringtrain_job_samples_per_second',
    help: 'Global training samples per second of the last finished epoch, as measured by rank 0.',
    registers,
  });
  const loss = new Gauge({
    name: 'ringtrain_job_loss',
    help: 'Loss of the last finished epoch by split, over the whole job.',
    labelNames: ['split'] as const,
    registers,
  });
  const accuracy = new Gauge({
    name: 'ringtrain_job_accuracy',
    help: 'Accuracy (0..1) of the last finished epoch by split, over the whole job.',
    labelNames: ['split'] as const,
    registers,
  });
  const recordEpoch = (e: EpochSummary): void => {
    if (!EPOCH_SPLITS.includes(e.split)) return;
    loss.set({ split: e.split }, e.loss);
    accuracy.set({ split: e.split }, e.accuracy);
    if (e.split === 'train') samplesPerSecond.set(e.samplesPerSec);
  };
  return { samplesPerSecond, loss, accuracy, recordEpoch };
}

/** The straggler gauge per rank and its setter. */
function stragglerMetric(registers: Registers): Pick<CoordinatorMetrics, 'straggler' | 'setStragglers'> {
  const straggler = new Gauge({
    name: 'ringtrain_job_straggler',
    help: 'Ranks the coordinator names stragglers: 1 while busier per step than the others, 0 after.',
    labelNames: ['rank'] as const,
    registers,
  });
  // Ranks once named keep a series at 0, so a recovery shows as a drop rather than a gap.
  const named = new Set<string>();
  const setStragglers = (ranks: readonly number[]): void => {
    const now = new Set(ranks.map(String));
    for (const rank of now) named.add(rank);
    for (const rank of named) straggler.set({ rank }, now.has(rank) ? 1 : 0);
  };
  return { straggler, setStragglers };
}

/** Registers the coordinator metrics on `registry`; the job starts in state `running`. */
export function createCoordinatorMetrics(registry: Registry): CoordinatorMetrics {
  const registers = [registry];
  return {
    workers: new Gauge({ name: 'ringtrain_job_workers', help: 'Workers with a live lease.', registers }),
    generation: new Gauge({
      name: 'ringtrain_job_generation',
      help: 'Current ring generation.',
      registers,
    }),
    epoch: new Gauge({ name: 'ringtrain_job_epoch', help: 'Epochs completed by the job.', registers }),
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
    worldSize: new Gauge({ name: 'ringtrain_job_world_size', help: 'Workers the job trains with.', registers }),
    restartsTotal: new Counter({
      name: 'ringtrain_job_restarts_total',
      help: 'Times the job re-formed its ring after losing or replacing a worker.',
      registers,
    }),
    refusedTotal: new Counter({
      name: 'ringtrain_job_refused_total',
      help: 'Calls and joins the coordinator refused, by reason (token, config, model, full, other).',
      labelNames: ['reason'] as const,
      registers,
    }),
    recoverySeconds: new Gauge({
      name: 'ringtrain_job_recovery_seconds',
      help: 'Seconds the last re-formation took, from losing a worker to the new ring.',
      registers,
    }),
    ...stateMetric(registers),
    ...epochMetrics(registers),
    ...stragglerMetric(registers),
  };
}
