/**
 * Batches prepared ahead of the step. The training loop asks for batch b+1 right after it has
 * started the all-reduce of step b, so copying (and augmenting) the next rows overlaps with the
 * ring's network time instead of adding to the step; two buffers alternate so the batch being
 * prepared never overwrites the one being trained on.
 */
import { gatherBatch, type Batch, type RowSource } from './batches';

export type BatchTransform = (batch: Batch, idx: Int32Array, position: number) => void;

/** One epoch's batches, asked for in order: get(b) stays valid until get(b + 2) or prepare(b + 2). */
export interface EpochBatches {
  /** A hint that batch `b` comes next: start on it now. */
  prepare(b: number): void;
  get(b: number): Batch;
}

export class BatchPipeline implements EpochBatches {
  private readonly buffers: Batch[];
  /** The batch each buffer holds now (a view of it for a short last batch). */
  private readonly held: (Batch | undefined)[] = [undefined, undefined];
  private ready = -1;

  /**
   * @param batches index lists, one per batch (the rank's share of the epoch, in order).
   * @param transform applied in place after gathering (augmentation); must be deterministic in
   *   (idx, position) so a resumed run sees the same batches.
   */
  constructor(
    private readonly source: RowSource,
    private readonly batches: Int32Array[],
    batchSize: number,
    private readonly transform?: BatchTransform,
  ) {
    const f = source.features;
    const k = source.classes ?? 1;
    this.buffers = [0, 1].map(() => ({
      x: new Float32Array(batchSize * f),
      y: new Int32Array(batchSize),
      t: source.targets !== undefined ? new Float32Array(batchSize * k) : undefined,
    }));
  }

  /** Gathers batch `b` now, so a later get(b) returns at once. */
  prepare(b: number): void {
    this.fill(b);
    this.ready = b;
  }

  /** Batch `b` (prepared earlier, or gathered now). Valid until get(b + 2) or prepare(b + 2). */
  get(b: number): Batch {
    if (this.ready !== b) this.prepare(b);
    return this.held[b % 2] as Batch;
  }

  private fill(b: number): void {
    const idx = this.batches[b] as Int32Array;
    const out = gatherBatch(this.source, idx, this.buffers[b % 2]);
    this.transform?.(out, idx, b);
    this.held[b % 2] = out;
  }
}
