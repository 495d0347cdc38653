/**
 * The built-in residual network, small enough for CPU training on 32x32x3 images (the ResNet-8
 * shape of He et al.'s CIFAR nets with the default 3 stages x 1 block): a 3x3 stem, then per
 * stage `blocks` basic blocks (two 3x3 convs with batch norm, identity shortcut, or a strided
 * 1x1 conv + batch norm where the size or width changes), every stage after the first starting
 * with stride 2, then global average pooling and the logits. Any square image works (MNIST is
 * 28x28x1), since the pooling removes the spatial size.
 *
 * Batch norm normalises with the batch's statistics in training and with its moving averages
 * in evaluation (`training: false`). The moving averages are non-trainable weights: they are not
 * in the gradient, so each rank keeps its own (see ParamLayout.buffersOf to broadcast them).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { ModelSpec } from '../config';
import { imageInput } from './model-image-input';
import { kernelInitializer } from './model-parts';

/** Stage widths of the CIFAR ResNets (He et al. 2016, section 4.2). */
export const RESNET_CHANNELS: readonly number[] = [16, 32, 64];
/** PyTorch's BatchNorm2d defaults (its momentum 0.1 is Keras's 0.9). */
const BN = { momentum: 0.9, epsilon: 1e-5 };

type Sym = tfl.SymbolicTensor;

export function buildResnet(
  spec: ModelSpec,
  sampleShape: readonly number[],
  classes: number,
  seed: number,
): tfl.LayersModel {
  const channels = spec.channels.length > 0 ? spec.channels : RESNET_CHANNELS;
  const { input, image } = imageInput(sampleShape, 'resnet');
  let s = seed;
  const conv = (x: Sym, filters: number, kernelSize: number, strides: number, name: string): Sym =>
    tfl.layers
      .conv2d({
        filters,
        kernelSize,
        strides,
        padding: 'same',
        useBias: false,
        kernelInitializer: kernelInitializer(spec.initializer, 'he-normal', s++),
        name,
      })
      .apply(x) as Sym;
  const bn = (x: Sym, name: string): Sym => tfl.layers.batchNormalization({ ...BN, name }).apply(x) as Sym;
  const relu = (x: Sym, name: string): Sym => tfl.layers.reLU({ name }).apply(x) as Sym;

  let x = relu(bn(conv(image, channels[0]!, 3, 1, 'stem_conv'), 'stem_bn'), 'stem_relu');
  let width = channels[0]!;
  channels.forEach((filters, stage) => {
    for (let b = 0; b < spec.blocks; b++) {
      const strides = stage > 0 && b === 0 ? 2 : 1;
      const p = `s${stage}b${b}`;
      let y = relu(bn(conv(x, filters, 3, strides, `${p}_conv1`), `${p}_bn1`), `${p}_relu1`);
      y = bn(conv(y, filters, 3, 1, `${p}_conv2`), `${p}_bn2`);
      const shortcut =
        strides === 1 && width === filters ? x : bn(conv(x, filters, 1, strides, `${p}_proj`), `${p}_proj_bn`);
      x = relu(tfl.layers.add({ name: `${p}_add` }).apply([y, shortcut]) as Sym, `${p}_relu2`);
      width = filters;
    }
  });
  x = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as Sym;
  const logits = tfl.layers
    .dense({
      units: classes,
      kernelInitializer: kernelInitializer(spec.initializer, 'xavier-uniform', s),
      name: 'logits',
    })
    .apply(x) as Sym;
  return tfl.model({ inputs: input, outputs: logits, name: 'resnet' });
}
