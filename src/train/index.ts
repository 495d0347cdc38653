export { buildMlp, parameterCount } from './model-mlp';
export { buildModel, sampleShape } from './models';
export { ParamLayout, type ParamSlot } from './flat-params';
export { softmaxCrossEntropy, lossAndCorrect } from './loss';
export { computeGradients, applyAveraged, type LocalStepResult } from './train-step';
export { evaluateRange, type EvalSums } from './evaluate';
export { saveModelToDir, loadModelFromDir } from './model-files';
export { summarizeModel } from './summary';
