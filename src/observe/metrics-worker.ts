/**
 * Metrics a worker exports. Names follow Prometheus conventions (base units, `_total` on
 * counters); labels stay bounded (rank, phase, split, backend) so a 64-worker job is still a
 * few hundred series. The registry is injected: tests and a process hosting more than one role
 * must never share prom-client's global register.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { STEP_PHASES, StepMetricsBatch } from './step-metrics-batch';

export { STEP_PHASES, type StepPhase } from './step-metrics-batch';

/** 1 ms (tiny MLP on a fast core) to 10 s (large model on wasm): steps land in this span. */
export const STEP_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** One all-reduce is a fraction of a step, so the range starts lower. */
export const ALLREDUCE_DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export interface WorkerMetrics {
  /** Training samples this rank has processed (its shard only). */
  samplesTotal: Counter;
  /** Wall time of one optimizer step, all phases. */
  stepDuration: Histogram;
  /** Seconds spent per phase; rate() of each over rate() of the sum gives the split. */
  stepPhaseSeconds: Counter<'phase'>;
  /** Per step, how long each phase took: the distribution behind stepPhaseSeconds. */
  stepPhaseDuration: Histogram<'phase'>;
  /** Loss of the last finished epoch, by split (train|val). */
  loss: Gauge<'split'>;
  /** Accuracy of the last finished epoch, by split (train|val). */
  accuracy: Gauge<'split'>;
  /**
   * The part of the communication phase spent ready but waiting for a neighbour's first message:
   * time lost to slower ranks. Communication minus this is the exchange itself.
   */
  peerWaitSeconds: Counter;
  /** Wall time of one bucket all-reduce (reduce-scatter + all-gather). */
  allreduceDuration: Histogram;
  /** Payload bytes this rank sent during all-reduces. */
  allreduceBytes: Counter;
  epoch: Gauge;
  step: Gauge;
  /** Ring generation this worker trains in; changes when membership changes. */
  generation: Gauge;
  /** Always 1, labelled with the tfjs backend in use (info-metric pattern). */
  backendInfo: Gauge<'backend' | 'kernels'>;
  /** Learning rate of the latest optimizer step (after warmup, schedule and scaling). */
  learningRate: Gauge;
  /** Momentum (sgd, rmsprop) or Adam's beta1 of the latest optimizer step: onecycle cycles it. */
  momentum: Gauge;
  /** Steps whose averaged loss or gradient was NaN/Inf, by what was done (skip|stop). */
  nonFiniteSteps: Counter<'action'>;
  /**
   * Always 1 per ring neighbour this rank sends to, labelled with how its all-reduce payloads
   * travel: grpc, socket (tcp), shared-memory (tcp, same host) or shared-file (two ranks of one
   * host summing in one file, either transport).
   */
  ringLink: Gauge<'peer' | 'path'>;
  /** Ring connections and messages refused: no or wrong token, not our framing, another job or generation. */
  ringRefused: Counter;
  /** Where each step's own metrics go first (step-metrics-batch.ts): the five above, in batches. */
  steps: StepMetricsBatch;
}

type Registers = Registry[];
/** Runs before prom-client reads a batched metric, so the read sees every step. */
type BeforeRead = () => void;

type StepMetric =
  | 'samplesTotal'
  | 'stepDuration'
  | 'stepPhaseSeconds'
  | 'stepPhaseDuration'
  | 'learningRate'
  | 'momentum'
  | 'nonFiniteSteps';
/** The step: samples, its wall time and each phase's share, the optimizer's settings. */
function stepMetrics(registers: Registers, collect: BeforeRead): Pick<WorkerMetrics, StepMetric> {
  return {
    samplesTotal: new Counter({
      name: 'ringtrain_samples_total',
      help: 'Training samples processed by this rank.',
      registers,
    }),
    stepDuration: new Histogram({
      name: 'ringtrain_step_duration_seconds',
      help: 'Wall time of one optimizer step.',
      buckets: STEP_DURATION_BUCKETS,
      registers,
      collect,
    }),
    stepPhaseSeconds: new Counter({
      name: 'ringtrain_step_phase_seconds_total',
      help: 'Seconds spent in each phase of the training step.',
      labelNames: ['phase'] as const,
      registers,
      collect,
    }),
    stepPhaseDuration: new Histogram({
      name: 'ringtrain_step_phase_duration_seconds',
      help: 'Duration of each phase of one training step (data, compute, communication wait, update).',
      labelNames: ['phase'] as const,
      buckets: ALLREDUCE_DURATION_BUCKETS,
      registers,
      collect,
    }),
    learningRate: new Gauge({
      name: 'ringtrain_learning_rate',
      help: 'Learning rate of the latest optimizer step.',
      registers,
    }),
    momentum: new Gauge({
      name: 'ringtrain_momentum',
      help: "Momentum (sgd, rmsprop) or Adam's beta1 of the latest optimizer step (onecycle cycles it).",
      registers,
    }),
    nonFiniteSteps: new Counter({
      name: 'ringtrain_nonfinite_steps_total',
      help: 'Optimizer steps whose averaged loss or gradient was not finite, by action taken.',
      labelNames: ['action'] as const,
      registers,
    }),
  };
}

type RingMetric =
  'peerWaitSeconds' | 'allreduceDuration' | 'allreduceBytes' | 'generation' | 'ringLink' | 'ringRefused';
/** The ring: all-reduce time and bytes, waits for slower peers, the links, refusals. */
function ringMetrics(registers: Registers, collect: BeforeRead): Pick<WorkerMetrics, RingMetric> {
  return {
    peerWaitSeconds: new Counter({
      name: 'ringtrain_peer_wait_seconds_total',
      help: 'Seconds of the communication phase spent waiting for the first message of a slower neighbour (communication minus this is the exchange).',
      registers,
      collect,
    }),
    allreduceDuration: new Histogram({
      name: 'ringtrain_allreduce_duration_seconds',
      help: 'Wall time of one bucket all-reduce.',
      buckets: ALLREDUCE_DURATION_BUCKETS,
      registers,
      collect,
    }),
    allreduceBytes: new Counter({
      name: 'ringtrain_allreduce_bytes_total',
      help: 'Payload bytes sent by this rank during all-reduce.',
      registers,
    }),
    generation: new Gauge({
      name: 'ringtrain_generation',
      help: 'Ring generation this worker belongs to.',
      registers,
    }),
    ringLink: new Gauge({
      name: 'ringtrain_ring_link_info',
      help: 'How all-reduce payloads to each ring neighbour travel: grpc, socket (tcp), shared-memory (tcp, same host) or shared-file (a same-host pair summing in one file); value is always 1.',
      labelNames: ['peer', 'path'] as const,
      registers,
    }),
    ringRefused: new Counter({
      name: 'ringtrain_ring_refused_total',
      help: 'Ring connections and messages this worker refused (no or wrong join token, bytes that are not ring frames, another job or generation).',
      registers,
    }),
  };
}

type ProgressMetric = 'loss' | 'accuracy' | 'epoch' | 'step' | 'backendInfo';
/** Progress and quality: epochs, steps, loss and accuracy, the backend in use. */
function progressMetrics(registers: Registers): Pick<WorkerMetrics, ProgressMetric> {
  return {
    loss: new Gauge({
      name: 'ringtrain_loss',
      help: 'Latest loss by split.',
      labelNames: ['split'] as const,
      registers,
    }),
    accuracy: new Gauge({
      name: 'ringtrain_accuracy',
      help: 'Latest accuracy (0..1) by split.',
      labelNames: ['split'] as const,
      registers,
    }),
    epoch: new Gauge({ name: 'ringtrain_epoch', help: 'Epochs this rank has completed.', registers }),
    step: new Gauge({ name: 'ringtrain_step', help: 'Optimizer steps completed.', registers }),
    backendInfo: new Gauge({
      name: 'ringtrain_backend_info',
      help: 'tfjs backend in use, and what its heavy kernels run on (value is always 1).',
      labelNames: ['backend', 'kernels'] as const,
      registers,
    }),
  };
}

/**
 * Registers the worker metrics on `registry` and labels every series in it with `rank`.
 * The rank goes in as a registry default label rather than on each metric, so call sites stay
 * `metrics.samplesTotal.inc(n)`; the cost is that the registry is the worker's alone.
 */
export function createWorkerMetrics(
  registry: Registry,
  rank: number,
  backend: string,
  kernels: string = backend,
): WorkerMetrics {
  registry.setDefaultLabels({ rank: String(rank) });
  const registers = [registry];
  let steps: StepMetricsBatch | undefined;
  const beforeRead = (): void => steps?.flush();
  const parts = {
    ...stepMetrics(registers, beforeRead),
    ...ringMetrics(registers, beforeRead),
    ...progressMetrics(registers),
  };
  steps = new StepMetricsBatch(parts);
  const m: WorkerMetrics = { ...parts, steps };
  // Export every phase from the start so dashboards see 0 rather than a missing series.
  for (const phase of STEP_PHASES) m.stepPhaseSeconds.inc({ phase }, 0);
  // Likewise the non-finite counters: increase() misses the first event of a series born at 1.
  for (const action of ['skip', 'stop']) m.nonFiniteSteps.inc({ action }, 0);
  m.backendInfo.set({ backend, kernels }, 1);
  return m;
}
