/**
 * The project's own kernels for the wasm backend, installed once wasm is active. Each replaces a
 * stock kernel that is missing or slow for training; each is tested against the cpu backend.
 */
import { installWasmBatchMatMul } from './kernel-batch-matmul-wasm';

export function installWasmKernels(): void {
  installWasmBatchMatMul();
}
