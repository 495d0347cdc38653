/** Datasets, sharding and batching: pure TypeScript over typed arrays (no tfjs, no network). */
export { readIdx, parseIdx, IDX_TYPE_CODES } from './idx-reader';
export type { IdxArray, IdxDtype } from './idx-reader';
export {
  loadMnist,
  defaultMnistDir,
  MNIST_MEAN,
  MNIST_STD,
  MNIST_ROWS,
  MNIST_COLS,
  MNIST_FEATURES,
  MNIST_CLASSES,
  MNIST_FILES,
  mnistPreprocess,
} from './mnist';
export type { LoadMnistOptions } from './mnist';
export type { Split, Rows, FloatRows, ByteRows, ByteDecode, RowSource } from './split';
export { readRows, floatSplit, gatherRows } from './rows';
export { checkSamplerArgs, distributedIndices, samplesPerRank, shufflePermutation } from './distributed-sampler';
export type { DistributedSamplerOptions } from './distributed-sampler';
export { batchIndices, gatherBatch } from './batches';
export type { Batch } from './batches';
export { BatchPipeline, type BatchTransform, type EpochBatches } from './prefetch';
export { AugmentThreads, AUGMENT_WAIT_MS, type AugmentThreadsOptions } from './augment-threads';
export { epochBatches, startAugmentation, type Augmentation } from './epoch-batches';
export { WeightedSampler, epochSampler, type EpochSampler } from './weighted-sampler';
export { loadDataset, type Dataset } from './dataset';
export { parseCsv, readCsv, csvColumns, type CsvTable, type CsvColumns } from './csv-reader';
export {
  applyPreprocess,
  byteDecode,
  columnStats,
  savePreprocess,
  loadPreprocess,
  PREPROCESS_FILE,
  type Preprocess,
} from './preprocess';
export { sliceSplit } from './split';
export {
  augmenter,
  augmentEnabled,
  rowAugmenter,
  cropPadded,
  flipHorizontal,
  rotate,
  sampleRandom,
  type ImageShape,
} from './augment';
export { instancesFromJson, readPredictInput, type RawRows } from './predict-input';
export { loadModuleDataset, type DataModuleContext } from './dataset-module';
