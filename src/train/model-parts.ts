/**
 * Pieces every built-in model shares: the kernel initializer the job chose, and activations,
 * where leakyRelu is a layer of its own (tfjs has no leakyRelu activation string) placed right
 * after the dense or conv layer it belongs to.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { Activation, InitializerName } from '../config';

/** torch.nn.LeakyReLU's default negative slope (Keras's is 0.3). */
export const LEAKY_RELU_SLOPE = 0.01;

type Initializer = ReturnType<typeof tfl.initializers.glorotUniform>;
/** The initializer a model uses when the job says 'auto'. */
export type ModelDefaultInit = 'xavier-uniform' | 'he-normal';

/** The kernel initializer for `choice` ('auto' = the model's own `fallback`), seeded. */
export function kernelInitializer(choice: InitializerName, fallback: ModelDefaultInit, seed: number): Initializer {
  const name = choice === 'auto' ? fallback : choice;
  switch (name) {
    case 'he-normal':
      return tfl.initializers.heNormal({ seed });
    case 'he-uniform':
      return tfl.initializers.heUniform({ seed });
    case 'xavier-normal':
      return tfl.initializers.glorotNormal({ seed });
    case 'xavier-uniform':
      return tfl.initializers.glorotUniform({ seed });
  }
}

/** The activation string a dense/conv layer takes itself: leakyRelu goes in a layer after it. */
export function inlineActivation(
  a: Activation | 'elu' | 'selu' | 'linear',
): 'relu' | 'tanh' | 'sigmoid' | 'elu' | 'selu' | 'linear' {
  return a === 'leakyRelu' ? 'linear' : a;
}

/** The layer that follows a layer named `of` when its activation is leakyRelu, else undefined. */
export function activationLayer(a: string, of: string): tfl.layers.Layer | undefined {
  return a === 'leakyRelu' ? tfl.layers.leakyReLU({ alpha: LEAKY_RELU_SLOPE, name: `${of}_leaky_relu` }) : undefined;
}
