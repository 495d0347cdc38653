/**
 * Class labels that would silently inflate the model: one corrupt IDX label byte (200 among
 * 0..2) or a stray text label among integer CSV labels. Refused, naming the label and where it
 * is, unless data.classes says how many classes there are.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_JOB, type DataSpec } from '../../src/config';
import { loadDataset } from '../../src/data';

function idx(type: number, shape: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * shape.length);
  head[2] = type;
  head[3] = shape.length;
  shape.forEach((d, i) => head.writeInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

function idxDir(trainLabels: number[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-labels-'));
  const n = trainLabels.length;
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), idx(0x08, [n, 2, 2], new Uint8Array(n * 4).fill(7)));
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), idx(0x08, [n], Uint8Array.from(trainLabels)));
  fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), idx(0x08, [2, 2, 2], new Uint8Array(8).fill(3)));
  fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), idx(0x08, [2], Uint8Array.from([0, 2])));
  return dir;
}

function csvSpec(labels: string[], extra: Partial<DataSpec> = {}): DataSpec {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-labels-'));
  fs.writeFileSync(path.join(dir, 'train.csv'), `x,y\n${labels.map((l, i) => `${i},${l}`).join('\n')}\n`);
  return { ...DEFAULT_JOB.data, dataset: 'csv', trainFile: path.join(dir, 'train.csv'), valFraction: 0.25, ...extra };
}

test('idx: one label byte of 200 among classes 0..2 is refused naming the sample and the classes it would leave empty', () => {
  const dir = idxDir([0, 1, 2, 0, 1, 200, 2, 0]);
  assert.throws(
    () => loadDataset({ ...DEFAULT_JOB.data, dataset: 'idx', dir }),
    /train-labels-idx1-ubyte: label 200 of sample 5 makes 201 classes, but classes 3\.\.199 \(197 of them\) have no sample: a corrupt label\? Fix it, or set data\.classes=201 if there really are 201 classes/,
  );
  // Said explicitly, it is what the user wants; a label past data.classes is still refused.
  assert.equal(loadDataset({ ...DEFAULT_JOB.data, dataset: 'idx', dir, classes: 201 } as DataSpec).train.classes, 201);
  assert.throws(
    () => loadDataset({ ...DEFAULT_JOB.data, dataset: 'idx', dir, classes: 3 } as DataSpec),
    /train-labels-idx1-ubyte: label 200 of sample 5 is out of range: data\.classes is 3, so labels are 0\.\.2/,
  );
  assert.equal(loadDataset({ ...DEFAULT_JOB.data, dataset: 'idx', dir: idxDir([0, 1, 2, 0, 1, 2]) }).train.classes, 3);
});

test('csv: a stray text label among integer labels is refused naming its line; gaps in integer labels need data.classes', () => {
  assert.throws(
    () => loadDataset(csvSpec(['0', '1', '2', 'cat', '1', '0', '2', '1'])),
    /train\.csv: line 5: label 'cat' is text among integer labels \(line 2 has '0'\): fix the stray label, or set data\.classes to the number of classes \(every label is then a class name\)/,
  );
  const named = loadDataset(csvSpec(['0', '1', 'cat', '1', '0', 'cat', '1', '0'], { classes: 3 } as Partial<DataSpec>));
  assert.equal(named.train.classes, 3);
  assert.deepEqual(named.preprocess.classNames, ['0', '1', 'cat']);
  assert.throws(
    () => loadDataset(csvSpec(['0', '1', '7', '1', '0', '1', '1', '0'])),
    /train\.csv: label 7 of line 4 makes 8 classes, but classes 2\.\.6 \(5 of them\) have no sample/,
  );
  assert.equal(
    loadDataset(csvSpec(['0', '1', '7', '1', '0', '1', '1', '0'], { classes: 8 } as Partial<DataSpec>)).train.classes,
    8,
  );
  assert.equal(loadDataset(csvSpec(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b'])).train.classes, 2);
});
