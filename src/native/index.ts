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
  type NativeGemm,
  type NativeSharedMemory,
  type NativeUpdates,
  type NativeWire,
  type Patches,
  type Strided,
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
