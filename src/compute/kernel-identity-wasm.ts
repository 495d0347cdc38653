/**
 * Identity and same-dtype Cast for the wasm backend without a copy. The stock kernels copy the
 * data, and training calls them a lot: the gradient tape keeps a clone (Identity) of every tensor a
 * gradient will need, and ReLU's gradient casts a float32 mask to float32. Sharing the buffer under
 * a reference count is what the cpu backend's Identity and the wasm backend's own Reshape do; it is
 * safe because no wasm kernel writes into its inputs. String tensors and real casts go to the stock
 * kernels.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { replaceWasmKernel, run, stockKernel } from './wasm-heap';

let installed = false;

export function installWasmIdentity(): void {
  if (installed) return;
  const identity = stockKernel('Identity');
  const cast = stockKernel('Cast');
  if (identity === undefined || cast === undefined) return;
  replaceWasmKernel('Identity', ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    return x.dtype === 'string' ? run(identity, backend, inputs, attrs) : alias(backend, x);
  });
  replaceWasmKernel('Cast', ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const { dtype } = attrs as unknown as tf.CastAttrs;
    return dtype === x.dtype && dtype !== 'string' ? alias(backend, x) : run(cast, backend, inputs, attrs);
  });
  installed = true;
}

function alias(backend: BackendWasm, x: tf.TensorInfo): tf.TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}
