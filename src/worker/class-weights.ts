/**
 * The training loss's class weights (train.classWeights or train.balanceClasses) for this
 * dataset, checked against what the dataset turned out to hold: the class count is known only
 * once it is loaded, and a dataset module may give regression targets whatever data.task says.
 * Every rank holds the whole training split's labels, so 'balanced' weights are the same on
 * every rank without a collective.
 */
import { RingtrainError } from '../core';
import type { TrainSpec } from '../config';
import type { RowSource } from '../data';
import { balancedClassWeights } from '../train';

export function classWeightsFor(t: TrainSpec, train: RowSource): Float32Array | undefined {
  const field =
    t.classWeights.length > 0 ? 'train.classWeights' : t.balanceClasses ? 'train.balanceClasses' : undefined;
  if (field === undefined) return undefined;
  if (train.targets !== undefined) {
    throw new RingtrainError(
      'CONFIG_INVALID',
      `${field} applies to classification, but this dataset gives regression targets (mean squared error): remove ${field}`,
    );
  }
  const classes = train.classes ?? train.labels.reduce((m, l) => Math.max(m, l + 1), 0);
  if (t.balanceClasses) return balancedClassWeights(train.labels.subarray(0, train.count), classes);
  if (t.classWeights.length !== classes) {
    throw new RingtrainError(
      'CONFIG_INVALID',
      `train.classWeights has ${t.classWeights.length} weights, but the dataset has ${classes} classes: give one weight per class, in class order`,
    );
  }
  return Float32Array.from(t.classWeights);
}
