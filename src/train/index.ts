export { buildMlp, parameterCount } from './model-mlp';
export { buildModel, sampleShape } from './models';
export { ParamLayout, type ParamSlot } from './flat-params';
export {
  softmaxCrossEntropy,
  distillationLoss,
  meanLabelWeight,
  balancedClassWeights,
  lossAndCorrect,
  meanSquaredError,
} from './loss';
export {
  computeGradients,
  forwardBackward,
  stepFeatures,
  type LocalStepResult,
  type LocalGradients,
  type LossOptions,
  type DistillOptions,
} from './train-step';
export { evaluateRange, evaluateRegressionRange, type EvalSums } from './evaluate';
export { saveModelToDir, loadModelFromDir } from './model-files';
export { summarizeModel } from './summary';
export {
  createOptimizer,
  noDecayRanges,
  optimizerOf,
  type FlatOptimizer,
  type OptimizerOptions,
  type OptimizerState,
} from './optimizers';
export { LrSchedule, monitorMode, scaledLr, type PlateauState, type ScheduleState } from './lr-schedule';
export { globalNorm, clipToNorm } from './grad-norm';
export { EarlyStopping, type EarlyStoppingState, type EarlyStoppingVerdict } from './early-stopping';
export { Predictor, type Prediction } from './predictor';
export {
  layerStats,
  gradientWarnings,
  epochGradientWarning,
  skippedStepsWarning,
  overfittingWarning,
  histogram,
  variableHistograms,
  groupByLayer,
  layerOf,
  l2Norm,
  type LayerStats,
  type Histogram,
  type DiagnosticWarning,
  type WarningKind,
  type VariableSlot,
  type EpochLosses,
} from './diagnostics';
export { quantizeModelDir, quantizeUint8, type QuantizeDtype } from './quantize-weights';
export { buildFromLayers, parseLayers, type LayerSpec, type LayerActivation } from './model-layers';
export { buildFromModule, type ModelModuleContext } from './model-module';
export { modelToOnnx, unsupportedLayers, ONNX_INPUT, ONNX_OUTPUT, type OnnxExport } from './onnx-export';
export {
  classificationReport,
  confusionRows,
  rSquared,
  type ClassReport,
  type ClassificationReport,
  type RegressionSums,
} from './class-metrics';
export { FusedStep, fusedPlanOf, type BackwardSegment } from './fused-step';
export { overlappedBackward, type OverlappedInput, type RangeReducer, type SegmentSpan } from './overlapped-step';
export { trainingFlopsPerSample } from './step-flops';
export {
  initWeightsFrom,
  readSavedWeights,
  checkLayerNames,
  type NamedWeights,
  type InitReport,
} from './model-init-from';
export { frozenLayers, layersWithWeights } from './freeze';
export { pruneByMagnitude, applyMask, sparsityAt, sparsityOf, prunableSlots, type PrunableSlot } from './prune';
export { pruneModelDir, type PruneReport } from './prune-export';
export { LEAKY_RELU_SLOPE } from './model-parts';
