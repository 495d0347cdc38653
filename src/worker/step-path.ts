/**
 * Which step a job trains with: the native fused step where the model and the loss allow it
 * (train/fused-step.ts), else the tfjs step, with the reason rank 0 logs (`step-path`).
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { TrainSpec } from '../config';
import { FusedStep, type ParamLayout } from '../train';

export function chooseStep(
  policy: TrainSpec['fusedStep'],
  stepFeatures: readonly string[],
  model: tfl.LayersModel,
  layout: ParamLayout,
  targets: Float32Array | undefined,
): { step: FusedStep | undefined; why: string | undefined } {
  if (policy === 'off') return { step: undefined, why: 'train.fusedStep is off' };
  if (stepFeatures.length > 0) return { step: undefined, why: `the step has ${stepFeatures.join(', ')}` };
  const fused = FusedStep.of(model, layout, { targets });
  return { step: fused.step, why: fused.step === undefined ? fused.why : undefined };
}
