// A user model module for `model: { kind: module, module: ./my-model.js }` (CommonJS).
// Build with ctx.tfl (ringtrain's own @tensorflow/tfjs-layers), not your own import: a model made
// with another copy of the package lives in another tfjs engine and cannot be trained.
exports.buildModel = ({ tfl, sampleShape, classes, seed }) => {
  const model = tfl.sequential({ name: 'my_model' });
  model.add(tfl.layers.dense({ inputShape: sampleShape, units: 256, activation: 'relu', kernelInitializer: tfl.initializers.heNormal({ seed }) }));
  model.add(tfl.layers.dropout({ rate: 0.1 }));
  model.add(tfl.layers.dense({ units: classes, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) }));
  return model;
};
