/** The job spec's `train` section: optimizer, schedule, clipping, early stopping, pruning, distillation. */

export type OptimizerName = 'sgd' | 'adam' | 'adamw' | 'rmsprop';
export type ScheduleName =
  | 'constant'
  | 'step'
  | 'multistep'
  | 'exponential'
  | 'cosine'
  | 'cosine-restarts'
  | 'polynomial'
  | 'onecycle'
  | 'plateau';
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
/** Whether the backward pass overlaps the all-reduce: measured per ring (auto), always (on), or never (off). */
export type OverlapPolicy = 'auto' | 'on' | 'off';

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
   * on: the fused step's backward pass runs in segments, last layers first, and each segment's
   * gradients go on the wire while the next computes (DDP's reducer), where the ring talks by
   * messages (not a same-host pair's file or a hierarchy); off: backward, then the all-reduce;
   * auto: a short trial of both early in the job, then the faster (worker/overlap-tuner.ts).
   * The same bits every way on two ranks.
   */
  overlapBackward: OverlapPolicy;
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
