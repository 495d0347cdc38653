/** data.sampler: combinations that cannot work, found before any worker starts. */
import type { JobSpec } from './job-spec';

export function samplerChecks(spec: JobSpec, origin: Map<string, string>, problems: string[]): void {
  const from = (path: string): string => origin.get(path) ?? 'defaults';
  const { kind, weights } = spec.data.sampler;
  if (kind === 'weighted' && weights.length === 0) {
    problems.push(
      `${from('data.sampler.kind')}: data.sampler.kind is weighted but data.sampler.weights is empty: give one ` +
        `weight per class, in class order (e.g. [1, 5]), or use kind: balanced`,
    );
  }
  if (kind !== 'weighted' && weights.length > 0) {
    problems.push(
      `${from('data.sampler.weights')}: data.sampler.weights is set but data.sampler.kind is ${kind}, which ignores ` +
        `them: set kind: weighted, or remove the weights`,
    );
  }
  if (kind === 'weighted' && weights.length > 0 && weights.every((w) => w === 0)) {
    problems.push(
      `${from('data.sampler.weights')}: data.sampler.weights are all 0, so no sample could be drawn: give the ` +
        `classes to draw a weight above 0`,
    );
  }
  if (kind === 'distributed') return;
  if (spec.data.task === 'regression') {
    problems.push(
      `${from('data.sampler.kind')}: data.sampler.kind ${kind} draws by class, but data.task is regression (no ` +
        `classes): use kind: distributed`,
    );
  }
  if (!spec.data.shuffle) {
    problems.push(
      `${from('data.shuffle')}: data.shuffle is false, but data.sampler.kind ${kind} draws samples at random: set ` +
        `data.shuffle to true, or kind: distributed`,
    );
  }
  if (spec.train.classWeights.length > 0 || spec.train.balanceClasses) {
    const field = spec.train.balanceClasses ? 'train.balanceClasses' : 'train.classWeights';
    problems.push(
      `${from(field)}: ${field} and data.sampler.kind ${kind} both correct for class imbalance, so rare classes ` +
        `would count twice over: keep one (oversampling, or loss weights)`,
    );
  }
}
