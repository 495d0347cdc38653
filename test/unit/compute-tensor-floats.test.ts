import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, tensorFloats } from '../../src/compute';
import { ParamLayout } from '../../src/train';

for (const backend of ['wasm', 'cpu'] as const) {
  test(`on ${backend}, tensorFloats gives a tensor's values, and the gradient packing built on it matches dataSync`, async () => {
    await selectBackend(backend);
    const a = tf.tensor2d(
      Float32Array.from({ length: 12 }, (_, i) => i * 0.25 - 1),
      [3, 4],
    );
    const b = tf.tensor1d([7, -0.5, 3]);
    try {
      assert.deepEqual(tensorFloats(a), a.dataSync());
      assert.deepEqual(tensorFloats(b), b.dataSync());
      if (backend === 'wasm') {
        // A view of the heap, not a copy: both tensors' values live in one buffer.
        assert.equal(tensorFloats(a).buffer, tensorFloats(b).buffer, 'views of the same wasm heap');
        assert.notEqual(tensorFloats(a).buffer, a.dataSync().buffer, 'dataSync copies, the view does not');
      }
      const va = tf.variable(tf.zerosLike(a), true, `floats-a-${backend}`);
      const vb = tf.variable(tf.zerosLike(b), true, `floats-b-${backend}`);
      const layout = new ParamLayout([va, vb]);
      const grads = { [va.name]: a, [vb.name]: b };
      const want = Float32Array.from([...a.dataSync(), ...b.dataSync()]);
      const out = new Float32Array(15);
      // Two buckets that cut the first variable, as the communicator packs them.
      layout.packRange(grads, out, 0, 5);
      layout.packRange(grads, out, 5, 15);
      assert.deepEqual(out, want);
      layout.packRange(grads, out, 0, 15, true);
      assert.deepEqual(
        out,
        want.map((x) => 2 * x),
        'accumulate adds the values again',
      );
      tf.dispose([va, vb]);
    } finally {
      tf.dispose([a, b]);
    }
  });
}
