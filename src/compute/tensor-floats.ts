/**
 * A float32 tensor's values as a Float32Array, without a copy where the backend allows it.
 *
 * `dataSync()` on the wasm backend slices the values out of the wasm heap into a fresh
 * ArrayBuffer: for the MNIST MLP's gradients, 400 KB allocated, copied and dropped every step,
 * only to be copied again into the flat gradient buffer. On the wasm backend this returns a view
 * of the heap instead. The view is valid until the next allocation on the wasm heap (which may
 * grow, and so replace, the heap's buffer): read it at once.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export function tensorFloats(t: tf.Tensor): Float32Array {
  if (t.dtype === 'float32' && tf.getBackend() === 'wasm') {
    return (tf.backend() as BackendWasm).typedArrayFromHeap(t) as Float32Array;
  }
  return t.dataSync() as Float32Array;
}
