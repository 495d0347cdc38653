/** The job spec's `model` section: which network, its layers and how its weights start. */

export type Activation = 'relu' | 'tanh' | 'sigmoid' | 'leakyRelu';
/**
 * Kernel initializer of dense and conv layers: 'auto' keeps each model's own (Glorot uniform,
 * He normal in the resnet); he is Kaiming (std sqrt(2 / fan_in)), xavier is Glorot
 * (sqrt(2 / (fan_in + fan_out))); 'normal' draws from a normal truncated at 2 std, as Keras does.
 */
export type InitializerName = 'auto' | 'he-normal' | 'he-uniform' | 'xavier-normal' | 'xavier-uniform';

export type ModelKind = 'mlp' | 'cnn' | 'resnet' | 'layers' | 'module';

/** One entry of `model.layers`, as the job file wrote it; src/train/model-layers.ts checks it. */
export type LayerEntry = Readonly<Record<string, unknown>>;

/**
 * Built-in models (src/train/model-*.ts). All of them train on MNIST with the default `train`
 * knobs (SGD 0.01, momentum 0.9, 8 epochs, 2 workers x batch 64), so `train.epochs` stays one
 * default for every model (test/e2e/launch-train and cnn-launch hold their accuracy).
 */
export interface ModelSpec {
  /**
   * mlp: dense layers (the peer's 784-128-10). cnn: the peer's MNIST net, conv 3x3x32, ReLU,
   * maxpool 2, conv 3x3x64, ReLU, maxpool 2, dense 128, dense 10. resnet: a small residual
   * network (ResNet-8 shape) for 32x32x3 images; it takes any image size (MNIST as 28x28x1).
   */
  kind: ModelKind;
  /** Dense hidden widths: the mlp's layers and the cnn's dense layers after its convolutions (peer: [128]); unused by resnet. */
  hidden: number[];
  /** Activation of the dense hidden layers (leakyRelu: slope 0.01, torch's); convolutions always use ReLU. */
  activation: Activation;
  /** Kernel initializer of every dense and conv layer (see InitializerName); biases start at 0. */
  initializer: InitializerName;
  /**
   * Start from these weights instead of fresh ones (fine-tuning): a saved model directory (a
   * run's model/) or a checkpoint directory. Weights match by layer and weight name and must
   * have the same shapes; '' = fresh weights.
   */
  initFrom: string;
  /** Layers that keep their fresh weights under initFrom (a new head for other classes, e.g. [logits]). */
  initSkip: string[];
  /**
   * Layers whose weights do not train (as requires_grad=False): no gradient, no all-reduce, no
   * update. Names as the model summary prints them, e.g. [dense_0].
   */
  freeze: string[];
  /** Freeze every layer with weights except the last N (0 = off); not with `freeze`. */
  freezeAllButLast: number;
  /** Dropout rate after each dense hidden layer, in training only (0 = none, the peer's). */
  dropout: number;
  /**
   * Convolution widths ([] = the model's own). cnn: one 3x3 conv + ReLU + 2x2 max pool per
   * entry ([32, 64]); resnet: one stage per entry, each after the first halving the image
   * ([16, 32, 64]). Unused by mlp.
   */
  channels: number[];
  /** Residual blocks per resnet stage (each two 3x3 convs with batch norm); unused by mlp and cnn. */
  blocks: number;
  /**
   * kind: module: a .js or .ts file (path from the working directory) exporting
   * `buildModel(ctx)` that returns a tf.LayersModel; see examples/my-model.js.
   */
  module: string;
  /**
   * kind: layers: the model's body as a list, like an nn.Sequential, e.g.
   * [{type: conv2d, filters: 32, kernelSize: 3, activation: relu}, {type: maxPool2d, poolSize: 2},
   * {type: flatten}, {type: dense, units: 128, activation: relu}]; the input and the output layer
   * (one unit per class) are added. Types: dense, conv2d, maxPool2d, avgPool2d, batchNorm,
   * dropout, flatten.
   */
  layers: LayerEntry[];
}
