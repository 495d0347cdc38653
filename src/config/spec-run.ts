/** What a run writes and exports: the job spec's `checkpoint` and `observe` sections. */

export interface CheckpointSpec {
  /** Rank 0 writes a checkpoint every N optimizer steps (0 = off). */
  everySteps: number;
  /** ... and every N epochs (0 = off). */
  everyEpochs: number;
  /** Checkpoints kept; older ones are deleted once a newer one is safely on disk. */
  keep: number;
  /** Where checkpoints go ('' = <run dir>/checkpoints). */
  dir: string;
  /**
   * Before the first step, rank 0 writes the starting weights: a step-0 checkpoint and the
   * model in TensorFlow.js format in <run dir>/model-initial, so another framework can start
   * from the very same weights. A resumed run writes nothing.
   */
  atStart: boolean;
}

export interface ObserveSpec {
  /** Address the /metrics HTTP servers bind to. */
  metricsHost: string;
  /** Port for the coordinator's /metrics (0 = any free port). */
  metricsPort: number;
  /**
   * Port for each worker's /metrics and /healthz (0 = any free port). Kubernetes scrapes and
   * probes a fixed port; `ringtrain launch` runs several workers on one host, so keep it 0 there.
   */
  workerMetricsPort: number;
  /** pino level for the JSON logs on stderr. */
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /**
   * Per-step points (TensorBoard's batch scalars, steps.jsonl, the live page's step curve) are
   * kept every this many steps and at each epoch's last step, as Lightning's log_every_n_steps:
   * a small model makes hundreds of steps a second, and writing each one would slow every rank
   * (they wait for rank 0) and fill the disk with event files.
   */
  logEverySteps: number;
}
