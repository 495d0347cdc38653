/**
 * The scaling model: what a data-parallel step costs on n nodes, as the alpha-beta(-gamma) cost
 * of a ring all-reduce (Thakur, Rabenseifner and Gropp's model, the one NCCL's tuner uses) plus
 * the step's compute on one worker.
 *
 * A ring all-reduce of a bucket of b bytes is a reduce-scatter and an all-gather: 2(n - 1)
 * messages of b/n bytes per rank, each paying the latency alpha and b/n x wire / B on the link
 * (wire: bytes on the link per payload byte, framing and headers; B: the link's rate), and
 * n - 1 reductions of b/n bytes at R bytes/s. A step sends its G gradient bytes as ceil(G / b)
 * buckets one after another. Without overlap (today's step: every gradient is computed before
 * the first bucket goes) the step is compute + all buckets. With overlap (issue 24 item 2),
 * bucket k is ready k/K of the way through backward and the link takes buckets in order, so only
 * what outlasts backward shows; small buckets start early but pay alpha more often, which is
 * where a best bucket size comes from.
 */

export interface LinkCalibration {
  /** Seconds per ring message beyond its bytes (software and kernel latency per hop). */
  alphaSec: number;
  /** Bytes on the link per byte of payload (TCP/IP headers, ACKs, gRPC framing), >= 1. */
  wire: number;
  /** Reduction speed, bytes of float32 summed per second. */
  reduceBytesPerSec: number;
}

export interface ModelCalibration {
  name: string;
  /** Gradient bytes per step (float32 parameters x 4). */
  gradientBytes: number;
  /** One worker's step in seconds (data, forward, backward, update), batch `batch`. */
  stepSec: number;
  batch: number;
  /** Share of the step that is backward (what overlap can hide communication behind). */
  backwardShare: number;
}

export interface StepPlan {
  nodes: number;
  /** Link rate in bits per second. */
  linkBitsPerSec: number;
  bucketBytes: number;
  /** Bytes per gradient byte on the wire: 1 for float32, 0.5 for fp16/bf16. */
  wireDtype?: number;
  overlap: boolean;
}

/** Two ranks exchange buckets up to this size whole, in one round (the Communicator's PAIR_MAX_ELEMENTS floats). */
export const PAIR_MAX_BYTES = 4 * (1 << 20);

/**
 * Seconds a ring all-reduce of one bucket of `bytes` takes on `nodes` nodes. Two nodes swap a
 * bucket up to PAIR_MAX_BYTES whole in one round (allreduce-pair.ts): the same bytes each way,
 * one latency instead of two.
 */
export function ringSeconds(
  bytes: number,
  nodes: number,
  linkBitsPerSec: number,
  link: LinkCalibration,
  wireDtype = 1,
): number {
  if (nodes <= 1) return 0;
  if (nodes === 2 && bytes <= PAIR_MAX_BYTES)
    return link.alphaSec + (bytes * wireDtype * link.wire * 8) / linkBitsPerSec + bytes / link.reduceBytesPerSec;
  const part = bytes / nodes;
  const transfer = (part * wireDtype * link.wire * 8) / linkBitsPerSec;
  return 2 * (nodes - 1) * (link.alphaSec + transfer) + ((nodes - 1) * part) / link.reduceBytesPerSec;
}

/** Seconds of one training step on `p.nodes` nodes. */
export function stepSeconds(m: ModelCalibration, p: StepPlan, link: LinkCalibration): number {
  if (p.nodes <= 1) return m.stepSec;
  const buckets = Math.max(1, Math.ceil(m.gradientBytes / p.bucketBytes));
  const perBucket = ringSeconds(m.gradientBytes / buckets, p.nodes, p.linkBitsPerSec, link, p.wireDtype);
  if (!p.overlap) return m.stepSec + buckets * perBucket;
  const backward = m.stepSec * m.backwardShare;
  let linkFree = 0;
  for (let k = 1; k <= buckets; k++) linkFree = Math.max(linkFree, (backward * k) / buckets) + perBucket;
  return m.stepSec - backward + linkFree;
}

export interface Projection {
  nodes: number;
  samplesPerSec: number;
  /** Samples/s over nodes x one worker's. */
  efficiency: number;
  bucketBytes: number;
}

/** Bucket sizes the model tries: 64 KiB .. 256 MiB by powers of two, and the whole gradient. */
export function bucketCandidates(gradientBytes: number): number[] {
  const out: number[] = [];
  for (let b = 64 * 1024; b <= 256 * 1024 * 1024; b *= 2) if (b < gradientBytes) out.push(b);
  return [...out, gradientBytes];
}

/** The projection at the bucket size the model finds fastest. */
export function project(
  m: ModelCalibration,
  nodes: number,
  linkBitsPerSec: number,
  link: LinkCalibration,
  overlap: boolean,
  wireDtype = 1,
): Projection {
  let best: Projection | undefined;
  for (const bucketBytes of bucketCandidates(m.gradientBytes)) {
    const t = stepSeconds(m, { nodes, linkBitsPerSec, bucketBytes, overlap, wireDtype }, link);
    const samplesPerSec = (nodes * m.batch) / t;
    if (best === undefined || samplesPerSec > best.samplesPerSec)
      best = { nodes, samplesPerSec, efficiency: m.stepSec / t, bucketBytes };
  }
  return best as Projection;
}

/**
 * The link's alpha and wire factor fitted to measured multi-node steps (least squares on
 * comm = a x messages + w x bits / rate, the reduction's share known), given each run's
 * one-worker step.
 */
export interface MeasuredStep {
  nodes: number;
  linkBitsPerSec: number;
  gradientBytes: number;
  stepSec: number;
  oneWorkerStepSec: number;
}

export function fitLink(runs: readonly MeasuredStep[], reduceBytesPerSec: number): LinkCalibration {
  // Columns: messages per step, seconds the payload takes at line rate; target: comm seconds.
  const rows = runs.map((r) => {
    // The unit link (alpha 1 s, wire 1, no reduction) gives the columns; the reduction is known.
    const messages = ringSeconds(r.gradientBytes, r.nodes, Infinity, {
      alphaSec: 1,
      wire: 1,
      reduceBytesPerSec: Infinity,
    });
    const atLineRate = ringSeconds(r.gradientBytes, r.nodes, r.linkBitsPerSec, {
      alphaSec: 0,
      wire: 1,
      reduceBytesPerSec: Infinity,
    });
    const reduce = ringSeconds(r.gradientBytes, r.nodes, Infinity, { alphaSec: 0, wire: 1, reduceBytesPerSec });
    return { x1: messages, x2: atLineRate, y: r.stepSec - r.oneWorkerStepSec - reduce };
  });
  const s = (f: (r: (typeof rows)[number]) => number): number => rows.reduce((a, r) => a + f(r), 0);
  const [a11, a12, a22, b1, b2] = [
    s((r) => r.x1 * r.x1),
    s((r) => r.x1 * r.x2),
    s((r) => r.x2 * r.x2),
    s((r) => r.x1 * r.y),
    s((r) => r.x2 * r.y),
  ];
  const det = a11 * a22 - a12 * a12;
  if (rows.length < 2 || Math.abs(det) < 1e-30)
    throw new Error(`fitting the link needs runs at two or more link rates or node counts, got ${rows.length}`);
  const alphaSec = Math.max(0, (b1 * a22 - b2 * a12) / det);
  const wire = Math.max(1, (a11 * b2 - a12 * b1) / det);
  return { alphaSec, wire, reduceBytesPerSec };
}
