/**
 * Which samples each rank sees in an epoch: `torch.utils.data.DistributedSampler`, as a pure
 * function.
 *
 * Every rank computes the same permutation from (seed + epoch) with no communication, pads it
 * (or trims it, with dropLast) to a multiple of the world size, and takes every world-th element
 * starting at its rank. The interleaving matters: rank r's k-th batch of B holds positions
 * [k*W*B, (k+1)*W*B) of the padded list, so one step over W ranks consumes exactly the samples a
 * single worker with batch W*B would consume at step k. That is what makes averaged DDP
 * gradients equal single-worker large-batch gradients.
 *
 * Padding repeats samples from the start of the shuffled list (so every rank runs the same
 * number of steps and no collective waits forever on a rank with one batch fewer); the repeats
 * slightly overweight those samples, which is PyTorch's trade-off too.
 *
 * The permutation comes from our own PRNG (mulberry32 seeded through a murmur3 finalizer, then
 * Fisher-Yates). It is deterministic across machines and Node versions but NOT bit-identical to
 * `torch.randperm`: the same seed yields a different order than PyTorch.
 */
import { RingtrainError } from '../core';

export interface DistributedSamplerOptions {
  /** Number of samples in the dataset (n). */
  datasetSize: number;
  /** Number of ranks (W). */
  worldSize: number;
  /** This rank, in 0..W-1. */
  rank: number;
  /** Epoch number; mixed into the seed so each epoch has a fresh order (PyTorch's set_epoch). */
  epoch: number;
  /** Shared seed; must be identical on every rank or the ranks' shards overlap. */
  seed: number;
  /** Shuffle (default true); false keeps dataset order, as for evaluation. */
  shuffle?: boolean;
  /** Drop the tail so no sample repeats (default false: pad by repeating instead). */
  dropLast?: boolean;
  /**
   * Positions of this epoch's order already consumed (default 0). An elastic ring that changes
   * size mid-epoch re-shards only the rest of the epoch: the remaining positions are padded and
   * split exactly as a whole epoch would be. With 0 the result is PyTorch's.
   */
  offset?: number;
}

const MAX_INDEX = 0x7fffffff; // indices live in an Int32Array

/** Samples each rank gets per epoch: ceil(n/W), or floor(n/W) with dropLast (as PyTorch). */
export function samplesPerRank(datasetSize: number, worldSize: number, dropLast = false): number {
  const problems = [...checkSize(datasetSize), ...checkWorld(worldSize)];
  if (problems.length > 0) throw invalidArgs(problems);
  return dropLast ? Math.floor(datasetSize / worldSize) : Math.ceil(datasetSize / worldSize);
}

/**
 * The indices rank `rank` visits in epoch `epoch`, in visiting order. Every rank gets
 * `samplesPerRank(n, W, dropLast)` of them.
 */
export function distributedIndices(opts: DistributedSamplerOptions): Int32Array {
  checkSamplerArgs(opts);
  const { datasetSize: n, worldSize: world, rank, epoch, seed } = opts;
  const shuffle = opts.shuffle ?? true;
  const dropLast = opts.dropLast ?? false;
  const offset = opts.offset ?? 0;
  const m = Math.max(0, n - offset);
  const perRank = dropLast ? Math.floor(m / world) : Math.ceil(m / world);
  const order = shuffle ? shufflePermutation(n, seed + epoch) : identity(n);
  // Position p of PyTorch's padded list is order[p % n] (the list repeated as often as needed);
  // with dropLast every position is < n already. Rank r takes positions r, r+W, r+2W, ...
  // (of the remaining list order[offset..] when resuming mid-epoch).
  const out = new Int32Array(perRank);
  for (let k = 0; k < perRank; k++) out[k] = order[offset + ((rank + k * world) % m)];
  return out;
}

/** Throws one CONFIG_INVALID error listing every bad argument; any sampler's contract. */
export function checkSamplerArgs(opts: DistributedSamplerOptions): void {
  const { datasetSize: n, worldSize: world, rank, epoch, seed } = opts;
  const problems = [...checkSize(n), ...checkWorld(world)];
  if (!Number.isInteger(rank) || rank < 0 || !(rank < world)) {
    problems.push(`rank must be an integer in 0..${world - 1} for worldSize ${world}, got ${rank}`);
  }
  if (!Number.isSafeInteger(epoch) || epoch < 0) problems.push(`epoch must be a non-negative integer, got ${epoch}`);
  if (!Number.isSafeInteger(seed)) problems.push(`seed must be a safe integer, got ${seed}`);
  else if (!Number.isSafeInteger(seed + epoch))
    problems.push(`seed + epoch (${seed} + ${epoch}) must be a safe integer`);
  const offset = opts.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0)
    problems.push(`offset must be a non-negative integer, got ${offset}`);
  if (problems.length > 0) throw invalidArgs(problems);
}

/**
 * A permutation of 0..n-1 determined by `seed` alone (any safe integer, negatives included).
 * Fisher-Yates over mulberry32; the modulo-free scaling has a bias below n/2^32, immaterial
 * for datasets of millions.
 */
export function shufflePermutation(n: number, seed: number): Int32Array {
  const problems = checkSize(n);
  if (!Number.isSafeInteger(seed)) problems.push(`seed must be a safe integer, got ${seed}`);
  if (problems.length > 0) throw invalidArgs(problems);
  const perm = identity(n);
  const next = mulberry32(seedState(seed));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor((next() / 0x100000000) * (i + 1));
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  return perm;
}

function identity(n: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}

/** Folds a 53-bit seed into 32 bits so seeds differing only in high bits still differ. */
function seedState(seed: number): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 0x100000000) >>> 0;
  return fmix32(lo ^ fmix32(hi ^ 0x9e3779b9));
}

/** murmur3's finalizer: spreads nearby integers (epochs, sample ids) far apart in PRNG state. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** mulberry32: tiny and fast; a 2^32 period is plenty for shuffling datasets. Yields uint32. */
function mulberry32(state: number): () => number {
  let a = state | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

function checkSize(n: number): string[] {
  return Number.isInteger(n) && n >= 0 && n <= MAX_INDEX
    ? []
    : [`datasetSize must be an integer in 0..${MAX_INDEX}, got ${n}`];
}

function checkWorld(world: number): string[] {
  return Number.isInteger(world) && world >= 1 ? [] : [`worldSize must be a positive integer, got ${world}`];
}

function invalidArgs(problems: string[]): RingtrainError {
  return new RingtrainError('CONFIG_INVALID', `invalid sampler arguments: ${problems.join('; ')}`);
}
