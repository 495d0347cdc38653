/**
 * What an evaluation reports beyond loss and accuracy, from sums that add across ranks: per-class
 * precision, recall and F1 from the confusion matrix (scikit-learn's classification_report, with
 * 0 where a class was never predicted or never present), and for regression MSE, MAE and R^2
 * (r2_score's uniform average over the outputs).
 */

export interface ClassReport {
  class: number;
  /** The class's name when the training labels were text. */
  label?: string;
  precision: number;
  recall: number;
  f1: number;
  /** Samples whose true label is this class. */
  support: number;
}

export interface ClassificationReport {
  accuracy: number;
  classes: ClassReport[];
  /** Unweighted mean over classes (macro avg) and support-weighted mean (weighted avg). */
  macro: { precision: number; recall: number; f1: number };
  weighted: { precision: number; recall: number; f1: number };
  /** confusion[t][p]: samples of true class t predicted as p. */
  confusion: number[][];
}

const ratio = (a: number, b: number): number => (b > 0 ? a / b : 0);

/** The report of a classes x classes confusion matrix (rows: true class, columns: predicted). */
export function classificationReport(
  confusion: readonly (readonly number[])[],
  labels?: readonly string[],
): ClassificationReport {
  const k = confusion.length;
  const at = (t: number, p: number): number => confusion[t]?.[p] ?? 0;
  let total = 0;
  let correct = 0;
  const classes: ClassReport[] = [];
  for (let c = 0; c < k; c++) {
    let support = 0;
    let predicted = 0;
    for (let j = 0; j < k; j++) {
      support += at(c, j);
      predicted += at(j, c);
    }
    const tp = at(c, c);
    total += support;
    correct += tp;
    const precision = ratio(tp, predicted);
    const recall = ratio(tp, support);
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    const r: ClassReport = { class: c, precision, recall, f1, support };
    if (labels?.[c] !== undefined) r.label = labels[c];
    classes.push(r);
  }
  const mean = (key: 'precision' | 'recall' | 'f1', weighted: boolean): number =>
    weighted
      ? ratio(
          classes.reduce((s, c) => s + c[key] * c.support, 0),
          total,
        )
      : ratio(
          classes.reduce((s, c) => s + c[key], 0),
          k,
        );
  return {
    accuracy: ratio(correct, total),
    classes,
    macro: { precision: mean('precision', false), recall: mean('recall', false), f1: mean('f1', false) },
    weighted: { precision: mean('precision', true), recall: mean('recall', true), f1: mean('f1', true) },
    confusion: confusion.map((row) => [...row]),
  };
}

/**
 * Per output column, the sums R^2 needs, taken about a shift every rank agrees on (the split's
 * first target row), so the float32 all-reduce does not cancel a large mean away.
 */
export interface RegressionSums {
  /** Sum of squared errors per output. */
  sqErr: Float64Array;
  /** Sum of (y - shift) and of (y - shift)^2 per output. */
  sum: Float64Array;
  sumSq: Float64Array;
}

/** R^2 from the sums over `count` rows (uniform average over outputs, as r2_score). */
export function rSquared(s: RegressionSums, count: number): number {
  let total = 0;
  for (let j = 0; j < s.sqErr.length; j++) {
    const ssTot = (s.sumSq[j] as number) - ((s.sum[j] as number) * (s.sum[j] as number)) / count;
    total += ssTot > 0 ? 1 - (s.sqErr[j] as number) / ssTot : NaN;
  }
  return total / s.sqErr.length;
}

/** Confusion matrix rows from a flat classes x classes buffer. */
export function confusionRows(flat: ArrayLike<number>, classes: number): number[][] {
  return Array.from({ length: classes }, (_, t) =>
    Array.from({ length: classes }, (_, p) => Math.round(flat[t * classes + p] as number)),
  );
}
