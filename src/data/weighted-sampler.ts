/**
 * Oversampling across ranks: `torch.utils.data.WeightedRandomSampler(replacement=True)` split
 * over the ranks the way DistributedSampler splits its list.
 *
 * An epoch is one list of draws, as long as the dataset (torch's default num_samples). Draw p
 * picks class c with probability w_c * n_c / sum_k(w_k * n_k) (the same as weighing every
 * sample by its class's weight, torch's per-sample weights) and then a sample of that class
 * uniformly. Every draw's randomness comes from (seed, epoch, p) alone, so no rank needs
 * another's draws or even the whole list: rank r computes only its positions r, r+W, r+2W, ...
 * The ranks' shares are disjoint positions of one list, and W ranks together draw exactly what
 * one worker would. A re-formed ring continues at `offset` as distributedIndices does.
 */
import { RingtrainError } from '../core';
import type { SamplerSpec } from '../config';
import { sampleRandom } from './augment';
import {
  checkSamplerArgs,
  distributedIndices,
  samplesPerRank,
  type DistributedSamplerOptions,
} from './distributed-sampler';
import type { RowSource } from './split';

/** Keeps the draws' random streams apart from augmentation's, which also key on (seed, epoch, index). */
const DRAW_SALT = 0x5bd1e995;

/** An epoch's indices for one rank: distributedIndices' contract, whatever the sampler. */
export type EpochSampler = (opts: DistributedSamplerOptions) => Int32Array;

/** The sampler data.sampler asks for, over the training split's labels. */
export function epochSampler(spec: SamplerSpec, train: RowSource): EpochSampler {
  if (spec.kind === 'distributed') return distributedIndices;
  if (train.targets !== undefined) {
    throw new RingtrainError(
      'CONFIG_INVALID',
      `data.sampler.kind ${spec.kind} draws by class, but this dataset gives regression targets: use ` +
        `data.sampler.kind distributed`,
    );
  }
  const classes = train.classes ?? 0;
  const sampler = new WeightedSampler(
    train.labels.subarray(0, train.count),
    classes,
    spec.kind === 'balanced' ? 'balanced' : spec.weights,
  );
  return (opts) => sampler.indices(opts);
}

export class WeightedSampler {
  /** Sample indices grouped by class: members of class c are byClass[start[c] .. start[c+1]). */
  private readonly byClass: Int32Array;
  private readonly start: Int32Array;
  /** Cumulative class probabilities (the last is 1). */
  readonly cumulative: Float64Array;

  /** @param weights one per class, or 'balanced' (1 / the class's sample count). */
  constructor(labels: Int32Array, classes: number, weights: readonly number[] | 'balanced') {
    if (weights !== 'balanced' && weights.length !== classes) {
      throw new RingtrainError(
        'CONFIG_INVALID',
        `data.sampler.weights has ${weights.length} weights, but the dataset has ${classes} classes: give one weight ` +
          `per class, in class order`,
      );
    }
    const counts = new Int32Array(classes);
    for (let i = 0; i < labels.length; i++) counts[labels[i] as number] += 1;
    this.start = new Int32Array(classes + 1);
    for (let c = 0; c < classes; c++) this.start[c + 1] = (this.start[c] as number) + (counts[c] as number);
    const fill = this.start.slice(0, classes);
    this.byClass = new Int32Array(labels.length);
    for (let i = 0; i < labels.length; i++) this.byClass[fill[labels[i] as number]++] = i;
    const mass = Array.from(counts, (n, c) => (n === 0 ? 0 : weights === 'balanced' ? 1 : n * (weights[c] as number)));
    const total = mass.reduce((a, b) => a + b, 0);
    if (!(total > 0)) {
      throw new RingtrainError(
        'CONFIG_INVALID',
        `data.sampler.weights give weight only to classes with no training sample (counts per class: ` +
          `${Array.from(counts).join(', ')}): give a weight above 0 to a class that has samples`,
      );
    }
    this.cumulative = new Float64Array(classes);
    let run = 0;
    for (let c = 0; c < classes; c++) this.cumulative[c] = run += (mass[c] as number) / total;
    // From the last class that can be drawn on, 1 exactly: rounding never lands past it.
    let last = classes - 1;
    while ((mass[last] as number) === 0) last -= 1;
    for (let c = last; c < classes; c++) this.cumulative[c] = 1;
  }

  /** Rank `rank`'s draws of epoch `epoch`: samplesPerRank of them, as DistributedSampler gives. */
  indices(opts: DistributedSamplerOptions): Int32Array {
    checkSamplerArgs(opts);
    const { datasetSize: n, worldSize: world, rank, epoch, seed } = opts;
    const offset = Math.min(opts.offset ?? 0, n);
    const perRank = samplesPerRank(n - offset, world, opts.dropLast ?? false);
    const out = new Int32Array(perRank);
    for (let k = 0; k < perRank; k++) out[k] = this.draw(seed, epoch, offset + rank + k * world);
    return out;
  }

  /** Draw number `p` of the epoch's list. */
  draw(seed: number, epoch: number, p: number): number {
    const rnd = sampleRandom((seed ^ DRAW_SALT) >>> 0, epoch, p);
    const u = rnd();
    const cum = this.cumulative;
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (u < (cum[mid] as number)) hi = mid;
      else lo = mid + 1;
    }
    const first = this.start[lo] as number;
    const size = (this.start[lo + 1] as number) - first;
    return this.byClass[first + Math.min(size - 1, Math.floor(rnd() * size))] as number;
  }
}
