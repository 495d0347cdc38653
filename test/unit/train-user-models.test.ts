/** Models from a layer list (job file) and from a user module, and the errors for bad ones. */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { selectBackend } from '../../src/compute';
import { ParamLayout, buildFromLayers, buildFromModule, computeGradients, parseLayers } from '../../src/train';

const EXAMPLES = path.resolve(__dirname, '../../../examples');

test('a layer list builds conv -> pool -> dense with the image reshape and the output layer added', async () => {
  await selectBackend('cpu');
  const model = buildFromLayers(
    [
      { type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu', padding: 'same' },
      { type: 'maxPool2d', poolSize: 2 },
      { type: 'batchNorm' },
      { type: 'dense', units: 16, activation: 'relu' },
      { type: 'dropout', rate: 0.1 },
    ],
    [784],
    10,
    7,
  );
  assert.deepEqual(
    model.layers.map((l) => l.name),
    ['input', 'image', 'conv2d_0', 'maxPool2d_1', 'batchNorm_2', 'flatten_before_3', 'dense_3', 'dropout_4', 'logits'],
  );
  assert.deepEqual(model.outputs[0]!.shape, [null, 10]);
  // 3*3*1*4+4 conv, 14*14*4=784 -> 16 dense, 4*2 trainable BN, 16*10+10 logits.
  assert.equal(ParamLayout.ofModel(model).size, 40 + 784 * 16 + 16 + 8 + 170);
  assert.equal(ParamLayout.buffersOf(model).size, 8, 'batch norm running mean and variance');
  const layout = ParamLayout.ofModel(model);
  const loss = computeGradients(
    model,
    layout,
    new Float32Array(2 * 784).fill(0.5),
    new Int32Array([3, 4]),
    2,
    new Float32Array(layout.size),
  ).loss;
  assert.ok(Number.isFinite(loss) && loss > 0);
  model.dispose();
});

test('every problem in a layer list is reported at once, with its index', () => {
  assert.throws(
    () =>
      parseLayers([
        { type: 'dense' },
        { type: 'conv3d' },
        { type: 'dropout', rate: 1.5, extra: 1 },
        { type: 'dense', units: 8, activation: 'gelu' },
      ]),
    (e: Error) => {
      assert.match(e.message, /invalid model\.layers \(5 problems\)/);
      assert.match(e.message, /model\.layers\[0\] \(dense\) needs 'units'/);
      assert.match(
        e.message,
        /model\.layers\[1\]\.type must be one of dense, conv2d, maxPool2d, avgPool2d, batchNorm, dropout, flatten, got "conv3d"/,
      );
      assert.match(e.message, /model\.layers\[2\] \(dropout\) has unknown field 'extra'; it takes rate/);
      assert.match(e.message, /model\.layers\[2\]\.rate must be a number >= 0 and < 1, got 1\.5/);
      assert.match(e.message, /model\.layers\[3\]\.activation must be one of relu/);
      return true;
    },
  );
  assert.throws(() => parseLayers([]), /must be a non-empty list/);
});

test("the example user module builds a trainable model with ringtrain's tfjs", async () => {
  await selectBackend('cpu');
  const model = buildFromModule('./my-model.js', EXAMPLES, [784], 10, 1);
  assert.equal(model.name, 'my_model');
  assert.deepEqual(model.outputs[0]!.shape, [null, 10]);
  assert.equal(ParamLayout.ofModel(model).size, 784 * 256 + 256 + 256 * 10 + 10);
  model.dispose();
});

test('a module that is missing, exports nothing useful, or returns the wrong output is refused with what it must do', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-module-'));
  assert.throws(
    () => buildFromModule('./nope.js', dir, [784], 10, 1),
    /cannot load model module .*nope\.js: .*check the path/,
  );
  fs.writeFileSync(path.join(dir, 'empty.js'), 'exports.other = 1;');
  assert.throws(
    () => buildFromModule('empty.js', dir, [784], 10, 1),
    /exports other; it must export a function buildModel\(ctx\)/,
  );
  fs.writeFileSync(
    path.join(dir, 'wrong.js'),
    'exports.buildModel = ({ tfl }) => { const m = tfl.sequential(); m.add(tfl.layers.dense({ inputShape: [784], units: 3 })); return m; };',
  );
  assert.throws(
    () => buildFromModule('wrong.js', dir, [784], 10, 1),
    /output shape \[null,3\]; ringtrain needs \[null, 10\]/,
  );
  fs.writeFileSync(path.join(dir, 'fake.js'), 'exports.buildModel = () => ({ layers: [] });');
  assert.throws(() => buildFromModule('fake.js', dir, [784], 10, 1), /another copy of @tensorflow\/tfjs-layers/);
  fs.writeFileSync(path.join(dir, 'model.ts'), 'export const x: number = 1;');
  assert.throws(
    () => buildFromModule('model.ts', dir, [784], 10, 1),
    /model module .*model\.ts exports x; it must export a function buildModel\(ctx\)/,
  );
  fs.writeFileSync(path.join(dir, 'broken.ts'), 'export function buildModel(: number {');
  assert.throws(() => buildFromModule('broken.ts', dir, [784], 10, 1), /cannot load model module .*broken\.ts: /);
});

test('a TypeScript model module (types, ES imports and exports, a relative .ts import) is loaded and builds a trainable model', async () => {
  await selectBackend('cpu');
  const model = buildFromModule('./my-model.ts', EXAMPLES, [784], 10, 1);
  assert.equal(model.name, 'my_ts_model');
  assert.equal(ParamLayout.ofModel(model).size, 784 * 96 + 96 + 96 * 10 + 10);
  model.dispose();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-tsmodule-'));
  fs.writeFileSync(path.join(dir, 'widths.ts'), 'export const WIDTHS: readonly number[] = [12, 8];\n');
  fs.writeFileSync(
    path.join(dir, 'net.ts'),
    [
      "import { WIDTHS } from './widths';",
      'type Ctx = { tfl: typeof import("@tensorflow/tfjs-layers"); sampleShape: number[]; classes: number };',
      'export default function build({ tfl, sampleShape, classes }: Ctx) {',
      '  const m = tfl.sequential();',
      '  WIDTHS.forEach((units: number, i: number) => m.add(tfl.layers.dense(i === 0 ? { inputShape: sampleShape, units } : { units })));',
      '  m.add(tfl.layers.dense({ units: classes }));',
      '  return m;',
      '}',
    ].join('\n'),
  );
  const net = buildFromModule('net.ts', dir, [5], 3, 1);
  assert.equal(ParamLayout.ofModel(net).size, 5 * 12 + 12 + 12 * 8 + 8 + 8 * 3 + 3);
  net.dispose();
});
