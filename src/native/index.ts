export {
  kernelSet,
  lineAlignedFloats,
  nativeFusedStep,
  nativeGemm,
  nativeSharedMemory,
  nativeUpdates,
  nativeWire,
  setNativeKernels,
  type NativeFusedStep,
  type NativeSharedMemory,
  type NativeUpdates,
  type NativeWire,
} from './addon';
export {
  bindThisProcess,
  cpuBindingUnavailable,
  cpusAllowedIn,
  formatCpuList,
  parseCpuList,
  threadCpuLists,
} from './cpu-binding';
export { WORKER_MALLOC, retainFreedMemory } from './malloc-tuning';
export type { NativeGemm, Patches, Strided } from './heap-kernels';
