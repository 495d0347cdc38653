// A user model module in TypeScript for `model: { kind: module, module: ./examples/my-model.ts }`.
// ringtrain strips the types when it loads it (no type check: run tsc for that). Build with
// ctx.tfl (ringtrain's own @tensorflow/tfjs-layers), not your own import: a model made with
// another copy of the package lives in another tfjs engine and cannot be trained.
import type * as tfl from '@tensorflow/tfjs-layers';

interface Context {
  tfl: typeof tfl;
  sampleShape: number[];
  classes: number;
  seed: number;
}

export function buildModel({ tfl: layers, sampleShape, classes, seed }: Context): tfl.LayersModel {
  const model = layers.sequential({ name: 'my_ts_model' });
  model.add(
    layers.layers.dense({
      inputShape: sampleShape,
      units: 96,
      activation: 'relu',
      kernelInitializer: layers.initializers.heNormal({ seed }),
    }),
  );
  model.add(
    layers.layers.dense({ units: classes, kernelInitializer: layers.initializers.glorotUniform({ seed: seed + 1 }) }),
  );
  return model;
}
