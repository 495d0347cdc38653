/**
 * The hooks a worker hands its training loop for one generation: a step the life cycle has given
 * up on is abandoned, the heartbeat sees progress, the trace and the run records get each step,
 * and each epoch is reported (epoch-report.ts).
 */
import { RingtrainError } from '../core';
import { STEPS_TRACK, WIRE_TRACK, type TraceWriter } from '../observe';
import type { StepInfo } from '../record';
import { reportEpoch, type EpochReportContext } from './epoch-report';
import type { FullDiskGuard } from './full-disk';
import type { TierUpStop } from './jit-tiering';
import type { Progress } from './heartbeat-loop';
import { abortReason, type LifeState } from './life-cycle';
import type { TrainHooks } from './train-types';

export interface LoopHookContext extends EpochReportContext {
  /** The life cycle's state now (it changes while a step runs). */
  life: () => LifeState;
  progress: Progress;
  /** The trace being written, if any. */
  tracer: () => TraceWriter | undefined;
  disk: FullDiskGuard;
  /** Stops V8's tier-up once training is warm (jit-tiering.ts); absent, V8 is left alone. */
  tierUp?: TierUpStop;
}

export function loopHooks(c: LoopHookContext): TrainHooks {
  const { progress, disk, recorder } = c;
  return {
    checkAbort: () => {
      const why = abortReason(c.life());
      if (why !== undefined) throw new RingtrainError(why.code, why.message);
    },
    onStep: (step, epoch) => {
      progress.step = step;
      progress.epoch = epoch;
      if (c.tierUp?.afterStep(step) === true)
        c.log.debug({ event: 'tier-up-stopped', step }, `V8 optimizes nothing more after step ${step}`);
    },
    onStepDetail: (st) => {
      progress.busySeconds = (progress.busySeconds ?? 0) + st.seconds.data + st.seconds.compute + st.seconds.update;
      progress.commSeconds = (progress.commSeconds ?? 0) + st.seconds.communication;
      const tracer = c.tracer();
      if (tracer !== undefined) traceStep(tracer, st, c.generation);
      disk.run('step records', () => recorder.onStep(st));
    },
    onWriteFailed: (what, e) => disk.skip(what, e),
    wantsDiagnostics: (stepInEpoch, stepsInEpoch) => recorder.wantsDiagnostics(stepInEpoch, stepsInEpoch),
    onDiagnostics: (d) => void disk.run('diagnostics records', () => recorder.onDiagnostics(d)),
    onEpoch: (e) => reportEpoch(c, e),
  };
}

/**
 * A step on the timeline: what the rank did, in order and at the times it did it (data, compute,
 * sending the gradients, preparing the next batch while they travel, waiting for the slowest
 * neighbour's first message, the exchange, the update), so a straggler stands out.
 */
function traceStep(t: TraceWriter, st: StepInfo, generation: number): void {
  for (const sp of st.spans ?? []) {
    const tid = sp.track === 'wire' ? WIRE_TRACK : STEPS_TRACK;
    t.event({
      name: sp.name,
      cat: 'step',
      ts: t.wallTime(sp.startMs),
      dur: 1000 * (sp.endMs - sp.startMs),
      args: { step: st.step, generation },
      tid,
    });
  }
}
