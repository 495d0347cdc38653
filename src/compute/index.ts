export {
  selectBackend,
  AUTO_ORDER,
  type ResolvedBackendName,
  type BackendAttempt,
  type SelectedBackend,
} from './backend';
export { installWasmKernels } from './kernels-wasm';
export { tensorFloats } from './tensor-floats';
