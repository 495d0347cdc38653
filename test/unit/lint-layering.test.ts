/**
 * The layering has one truth: docs/architecture.md's table and scripts/layering.ts must say the
 * same, and the lint's import rule reads that table. These tests hold the two together and show
 * the checks catch a drift.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  LAYERS,
  importProblem,
  parseLayerTable,
  renderLayerTable,
  tableDifferences,
  tableProblems,
  type LayerRule,
} from '../../scripts/layering';

const ROOT = path.resolve(__dirname, '../../..');
const doc = fs.readFileSync(path.join(ROOT, 'docs', 'architecture.md'), 'utf8');

test('docs/architecture.md shows the layer table scripts/layering.ts enforces', () => {
  const fromDoc = parseLayerTable(doc);
  assert.deepEqual(tableDifferences(LAYERS, fromDoc), []);
  assert.deepEqual(Object.keys(fromDoc).sort(), Object.keys(LAYERS).sort());
  assert.deepEqual(fromDoc['allreduce']?.mayImport, ['core', 'config', 'native', 'rpc']);
});

test('every folder of src/ has a row, and every row a folder', () => {
  const folders = fs
    .readdirSync(path.join(ROOT, 'src'), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
  assert.deepEqual(folders.sort(), Object.keys(LAYERS).sort());
});

test('a doc that drifts from the lint is reported, naming the folder and both sides', () => {
  const drifted = doc
    .replace(/^(\| 3 \| `src\/allreduce` \|[^|]*\| )`core`/m, '$1`compute`, `core`')
    .replace(/^\| 4 \| `src\/record` .*\n/m, '');
  assert.notEqual(drifted, doc);
  assert.deepEqual(tableDifferences(LAYERS, parseLayerTable(drifted)), [
    'layering: allreduce may import [core, config, native, rpc] in scripts/layering.ts, ' +
      '[compute, core, config, native, rpc] in docs/architecture.md',
    'layering: scripts/layering.ts lists record, docs/architecture.md does not',
  ]);
  assert.throws(() => parseLayerTable('# no table here'), /no layer table/);
});

test('the rendered table reads back as the same table', () => {
  assert.deepEqual(tableDifferences(LAYERS, parseLayerTable(renderLayerTable(LAYERS))), []);
});

test('the table itself is sound: each folder imports only lower layers', () => {
  assert.deepEqual(tableProblems(LAYERS), []);
  const upward: Record<string, LayerRule> = {
    ...LAYERS,
    core: { layer: 0, holds: 'x', mayImport: ['config'], mustNotLoad: [] },
  };
  assert.deepEqual(tableProblems(upward), [
    'layering: core (layer 0) may import config (layer 1): imports must run to lower layers',
  ]);
});

test('imports across folders: only allowed folders, only through index.ts', () => {
  assert.equal(importProblem(LAYERS, 'src/worker/run-worker.ts', 'src/train/index.ts'), undefined);
  assert.equal(importProblem(LAYERS, 'src/worker/run-worker.ts', 'src/worker/step-clock.ts'), undefined);
  assert.equal(
    importProblem(LAYERS, 'src/worker/run-worker.ts', 'src/train/optimizers.ts'),
    "src/worker/run-worker.ts: imports src/train/optimizers.ts: across folders, import from '../train' (its index.ts), not its files",
  );
  assert.equal(
    importProblem(LAYERS, 'src/allreduce/communicator.ts', 'src/compute/index.ts'),
    'src/allreduce/communicator.ts: allreduce/ may not import compute/ (it may import: core, config, native, rpc; docs/architecture.md)',
  );
  assert.match(
    importProblem(LAYERS, 'src/newfolder/a.ts', 'src/core/index.ts') ?? '',
    /src\/newfolder\/ is not in the layer table/,
  );
});
