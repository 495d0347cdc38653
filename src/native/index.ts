export { kernelSet, nativeGemm, nativeUpdates, setNativeKernels, type NativeGemm, type NativeUpdates, type Strided } from './addon';
