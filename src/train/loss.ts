import * as tf from '@tensorflow/tfjs-core';

/**
 * Mean softmax cross-entropy from logits and integer labels (PyTorch's nn.CrossEntropyLoss):
 * the mean over the batch is what makes averaging per-rank gradients equal to the gradient of
 * the global batch when every rank has the same batch size. With `labelSmoothing` e the target
 * is (1 - e) x one-hot + e / classes, as torch's label_smoothing: the loss is
 * (1 - e) x NLL + e x (mean over classes of -log p).
 *
 * With `classWeights` w each class's term is scaled by its weight, as torch's weight= does
 * (smoothing included), but the result is still divided by the row count, not by the sum of the
 * rows' weights: that sum is only known for the global batch once every rank's share has been
 * all-reduced, so the caller divides by it there (see meanLabelWeight).
 */
export function softmaxCrossEntropy(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  labelSmoothing = 0,
  classWeights?: tf.Tensor1D,
): tf.Scalar {
  return tf.tidy(() => {
    const classes = logits.shape[1];
    const oneHot = tf.cast(tf.oneHot(labels, classes), 'float32');
    const smoothed = labelSmoothing > 0 ? tf.add(tf.mul(oneHot, 1 - labelSmoothing), labelSmoothing / classes) : oneHot;
    const target = classWeights === undefined ? smoothed : tf.mul(smoothed, classWeights);
    const logp = tf.logSoftmax(logits);
    return tf.neg(tf.mean(tf.sum(tf.mul(target, logp), 1))) as tf.Scalar;
  });
}

/**
 * Knowledge distillation's loss, as the PyTorch tutorial computes it: alpha x T^2 x the mean over
 * rows of KL(softmax(teacher / T) || softmax(student / T)), plus (1 - alpha) x the labels' cross
 * entropy (smoothed when `labelSmoothing` > 0). A mean over rows, like the cross-entropy, so
 * averaging equal ranks' gradients is the global batch's gradient.
 */
export function distillationLoss(
  student: tf.Tensor2D,
  teacher: tf.Tensor2D,
  labels: tf.Tensor1D,
  temperature: number,
  alpha: number,
  labelSmoothing = 0,
): tf.Scalar {
  return tf.tidy(() => {
    const soft = tf.softmax(tf.div(teacher, temperature));
    const logSoft = tf.logSoftmax(tf.div(teacher, temperature));
    const logStudent = tf.logSoftmax(tf.div(student, temperature));
    const kl = tf.mean(tf.sum(tf.mul(soft, tf.sub(logSoft, logStudent)), 1));
    const hard = softmaxCrossEntropy(student, labels, labelSmoothing);
    return tf.add(tf.mul(kl, alpha * temperature * temperature), tf.mul(hard, 1 - alpha)) as tf.Scalar;
  });
}

/** The mean over `rows` labels of their class weights: sum(w[label]) / rows. */
export function meanLabelWeight(labels: Int32Array, rows: number, classWeights: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < rows; i++) sum += classWeights[labels[i] as number] as number;
  return rows > 0 ? sum / rows : 0;
}

/**
 * sklearn's class_weight='balanced': n / (classes x count of each class); a class with no
 * sample gets 0 (it contributes nothing either way).
 */
export function balancedClassWeights(labels: ArrayLike<number>, classes: number): Float32Array {
  const counts = new Float64Array(classes);
  for (let i = 0; i < labels.length; i++) counts[labels[i] as number] = (counts[labels[i] as number] as number) + 1;
  const out = new Float32Array(classes);
  counts.forEach((c, k) => {
    out[k] = c > 0 ? labels.length / (classes * c) : 0;
  });
  return out;
}

/** Sum of per-sample losses and count of correct predictions, for metrics that all-reduce. */
export function lossAndCorrect(logits: tf.Tensor2D, labels: tf.Tensor1D): { lossSum: tf.Scalar; correct: tf.Scalar } {
  return tf.tidy(() => {
    const oneHot = tf.oneHot(labels, logits.shape[1]);
    const perSample = tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1));
    const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32'));
    return { lossSum: tf.sum(perSample) as tf.Scalar, correct: correct as tf.Scalar };
  });
}

/** Mean squared error over every element (torch's nn.MSELoss, reduction 'mean'). */
export function meanSquaredError(pred: tf.Tensor2D, target: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.square(tf.sub(pred, target))) as tf.Scalar);
}
