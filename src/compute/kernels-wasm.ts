/**
 * The project's own kernels for the wasm backend, installed once wasm is active. Each replaces a
 * stock kernel that is missing or slow for training; each is tested against the cpu backend
 * (test/unit/compute-kernels.test.ts). Installing is idempotent. Where the native matrix product
 * is built (src/native/addon.ts), the matrix-product kernels (Conv2D, its two gradients, BatchMatMul)
 * run on it; otherwise they keep their pure-wasm paths.
 */
import { installBatchNormGradient } from './batch-norm-grad';
import { installBatchNormTraining } from './batch-norm-train';
import { installPlainConv } from './plain-conv';
import { installFasterGradients } from './gradients-wasm';
import { installWasmBatchMatMul } from './kernel-batch-matmul-wasm';
import { installWasmBatchNorm } from './kernel-batch-norm-wasm';
import { installWasmConv2D } from './kernel-conv2d-wasm';
import { installWasmConv2DBackpropFilter } from './kernel-conv2d-backprop-filter-wasm';
import { installWasmConv2DBackpropInput } from './kernel-conv2d-backprop-input-wasm';
import { installWasmElementwise } from './kernel-elementwise-wasm';
import { installWasmIdentity } from './kernel-identity-wasm';
import { installWasmMaxPoolGrad } from './kernel-max-pool-grad-wasm';
import { installWasmSum } from './kernel-sum-wasm';
import { installWasmTile } from './kernel-tile-wasm';

export function installWasmKernels(): void {
  installWasmBatchMatMul();
  installWasmConv2D();
  installWasmConv2DBackpropFilter();
  installWasmConv2DBackpropInput();
  installWasmMaxPoolGrad();
  installWasmSum();
  installWasmTile();
  installWasmElementwise();
  installWasmBatchNorm();
  installBatchNormGradient();
  installFasterGradients();
  installBatchNormTraining();
  installPlainConv();
  installWasmIdentity();
}
