/**
 * The leaf every other folder may use, and which uses none of them: the error family, files that
 * survive a crash, the run directory's creation, and the float arithmetic the collectives share
 * with training (half floats, SIMD sums). No TensorFlow.js, no network, no job spec.
 */
export { isRingtrainError, RingtrainError, type RingtrainErrorCode } from './errors';
export { appendFileNamed, writeFailed, writeFileAtomic, writeFileSynced } from './durable-files';
export { DIRECTORY_USES, makeDirectory, type DirectoryUse } from './make-directory';
export { floatToHalf, HALF_TO_FLOAT } from './half-float';
export { addFloats, scaleFloats, simdBuffer } from './simd-floats';
export { simdOpsFor, type SimdOps } from './wasm-simd';
