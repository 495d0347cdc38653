/** Where an epoch's batches come from: gathered inline, augmented inline, or augmented by threads. */
import type { AugmentSpec } from '../config';
import { augmentEnabled, augmenter, requireShape, type ImageShape } from './augment';
import { AugmentThreads } from './augment-threads';
import type { RowSource } from './batches';
import { BatchPipeline, type BatchTransform, type EpochBatches } from './prefetch';

/** An epoch's augmentation on the training thread, or the threads that do it off that thread. */
export type Augmentation = ((epoch: number) => BatchTransform) | AugmentThreads;

/**
 * data.augment for a job: undefined when it augments nothing, threads when data.augment.threads
 * > 0 (close them when training ends), else an inline transform.
 */
export function startAugmentation(
  a: AugmentSpec,
  shape: ImageShape | undefined,
  fill: number,
  seed: number,
  batchSize: number,
): Augmentation | undefined {
  if (!augmentEnabled(a)) return undefined;
  if (a.threads === 0) return augmenter(a, shape, fill, seed);
  return new AugmentThreads({ spec: a, shape: requireShape(shape), fill, seed, threads: a.threads, batchSize });
}

export function epochBatches(
  source: RowSource,
  batches: Int32Array[],
  batchSize: number,
  epoch: number,
  augment?: Augmentation,
): EpochBatches {
  if (augment instanceof AugmentThreads) return augment.pipeline(source, batches, batchSize, epoch);
  return new BatchPipeline(source, batches, batchSize, augment?.(epoch));
}
