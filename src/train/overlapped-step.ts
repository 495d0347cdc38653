/**
 * The fused step's backward pass overlapped with the gradients' all-reduce, as DDP's reducer
 * does: the pass runs in segments, last layers first (FusedStep.segments), and each segment's
 * gradients go to the all-reduce as soon as they are final, while the next segment computes the
 * earlier layers. Between segments the event loop turns once, so transports that write from it
 * (HTTP/2) put the finished bucket on the wire; the kernel then sends it while we compute.
 * The gradients are the same bits as one fusedStep call (the same ops in the same order).
 */
import type { BackwardSegment, FusedStep } from './fused-step';
import type { LocalStepResult, LossOptions } from './train-step';

/** An all-reduce whose ranges are handed over one by one (Communicator.overlapped). */
export interface RangeReducer {
  /** Starts reducing buf[start, end); resolves when that range is reduced. */
  add(start: number, end: number): Promise<void>;
  /** Resolves when the whole buffer is reduced (and averaged). */
  done(): Promise<void>;
}

export interface OverlappedInput {
  params: Float32Array;
  /** The step's buffer: gradients first, then what rides with them (step-buffer.ts). */
  all: Float32Array;
  x: Float32Array;
  y: Int32Array;
  rows: number;
  accumulate: boolean;
  loss: LossOptions;
}

/** Hears each segment: when its backward ran, and when its gradients are reduced. */
export type SegmentSpan = (segment: number, from: bigint, to: bigint, reduced: Promise<void>) => void;

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Runs the last micro-batch of a step with its backward pass in `segments`, handing each
 * finished range of `a.all` to `reduce`. `afterFirst` runs before the first range goes (the
 * step's loss and counts, which ride at the end of the buffer, go with it). Resolves with the
 * local result once every segment has run and been handed over; `reduce.done()` is the caller's.
 */
export async function overlappedBackward(
  fused: FusedStep,
  segments: readonly BackwardSegment[],
  a: OverlappedInput,
  reduce: RangeReducer,
  afterFirst: (local: LocalStepResult) => void,
  span?: SegmentSpan,
  now: () => bigint = () => process.hrtime.bigint(),
): Promise<LocalStepResult> {
  const first = segments[0] as BackwardSegment;
  let t0 = now();
  const local = fused.begin(a.params, a.all, a.x, a.y, a.rows, a.accumulate, a.loss, first.downTo);
  afterFirst(local);
  let t1 = now();
  span?.(0, t0, t1, reduce.add(first.start, a.all.length));
  for (let i = 1; i < segments.length; i++) {
    await turn();
    const s = segments[i] as BackwardSegment;
    t0 = now();
    fused.continueTo(a.params, a.all, a.x, a.rows, a.accumulate, s.downTo);
    t1 = now();
    span?.(i, t0, t1, reduce.add(s.start, (segments[i - 1] as BackwardSegment).start));
  }
  return local;
}
