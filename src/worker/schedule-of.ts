/** A job's learning-rate schedule and early stopping, sized to its steps on `world` ranks. */
import type { JobSpec } from '../config';
import { samplesPerRank } from '../data';
import { EarlyStopping, LrSchedule, monitorMode, scaledLr } from '../train';

/** The lr schedule (its ticks: optimizer steps or epochs) and early stopping of a job on `world` ranks. */
export function scheduleOf(
  spec: JobSpec,
  trainCount: number,
  world: number,
  dropLast: boolean,
): { schedule: LrSchedule; early: EarlyStopping } {
  const t = spec.train;
  const perRank = samplesPerRank(trainCount, world, dropLast);
  const stepsPerEpoch = Math.ceil(Math.ceil(perRank / spec.data.batchSize) / t.accumulate);
  let totalSteps = stepsPerEpoch * t.epochs;
  if (t.maxSteps > 0) totalSteps = Math.min(totalSteps, t.maxSteps);
  const totalTicks = t.schedule.interval === 'step' ? totalSteps : t.epochs;
  const mode = monitorMode(t.monitor);
  return {
    schedule: new LrSchedule(t.schedule, scaledLr(t.lr, world, t.scaleLr), totalTicks, mode),
    early: new EarlyStopping(t.earlyStopping.patience, t.earlyStopping.minDelta, mode),
  };
}
