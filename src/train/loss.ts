import * as tf from '@tensorflow/tfjs-core';

/**
 * Mean softmax cross-entropy from logits and integer labels (PyTorch's nn.CrossEntropyLoss):
 * the mean over the batch is what makes averaging per-rank gradients equal to the gradient of
 * the global batch when every rank has the same batch size. With `labelSmoothing` e the target
 * is (1 - e) x one-hot + e / classes, as torch's label_smoothing: the loss is
 * (1 - e) x NLL + e x (mean over classes of -log p).
 */
export function softmaxCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, labelSmoothing = 0): tf.Scalar {
  return tf.tidy(() => {
    const classes = logits.shape[1];
    const oneHot = tf.cast(tf.oneHot(labels, classes), 'float32');
    const target = labelSmoothing > 0 ? tf.add(tf.mul(oneHot, 1 - labelSmoothing), labelSmoothing / classes) : oneHot;
    const logp = tf.logSoftmax(logits);
    return tf.neg(tf.mean(tf.sum(tf.mul(target, logp), 1))) as tf.Scalar;
  });
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

/** Sums for regression metrics that all-reduce: squared and absolute errors over all elements. */
export function regressionSums(pred: tf.Tensor2D, target: tf.Tensor2D): { sqErr: tf.Scalar; absErr: tf.Scalar } {
  return tf.tidy(() => {
    const d = tf.sub(pred, target);
    return { sqErr: tf.sum(tf.square(d)) as tf.Scalar, absErr: tf.sum(tf.abs(d)) as tf.Scalar };
  });
}
