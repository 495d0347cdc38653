import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_JOB, type DataSpec } from '../../src/config';
import { csvColumns, loadDataset, parseCsv } from '../../src/data';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-csv-'));

test('parses quoted fields, doubled quotes, newlines inside quotes, CRLF and a BOM', () => {
  const t = parseCsv('\ufeffa,b,"c d"\r\n1,"x, ""y""",3\r\n"4","multi\nline",6\n\n', 'mem.csv');
  assert.deepEqual(t.header, ['a', 'b', 'c d']);
  assert.deepEqual(t.rows, [
    ['1', 'x, "y"', '3'],
    ['4', 'multi\nline', '6'],
  ]);
  assert.deepEqual(t.lines, [2, 3]);
});

test('a row with the wrong field count or an unclosed quote is named by line', () => {
  assert.throws(() => parseCsv('a,b\n1,2\n3\n', 'f.csv'), /f\.csv: line 3 has 1 fields, the header has 2 \(a,b\)/);
  assert.throws(() => parseCsv('a,b\n1,"2\n', 'f.csv'), /f\.csv: a quoted field opened on line 2 is never closed/);
  assert.throws(() => parseCsv('', 'f.csv'), /the file is empty/);
});

test('text labels become sorted class ids, reused for the test file; unknown labels and non-numeric features are refused', () => {
  const train = parseCsv('x1,species,x2\n1,setosa,2\n3,virginica,4\n5,setosa,6\n', 'train.csv');
  const c = csvColumns(train, 'train.csv', 'species', 'classification', undefined);
  assert.deepEqual(c.featureNames, ['x1', 'x2']);
  assert.deepEqual(Array.from(c.x), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(c.classNames, ['setosa', 'virginica']);
  assert.deepEqual(Array.from(c.labels), [0, 1, 0]);
  const test2 = parseCsv('x1,species,x2\n1,versicolor,2\n', 'test.csv');
  assert.throws(
    () => csvColumns(test2, 'test.csv', 'species', 'classification', c.classNames),
    /test\.csv: line 2: label 'versicolor' is not one of the training labels \(setosa, virginica\)/,
  );
  const bad = parseCsv('x1,y\n1,0\nabc,1\n', 'bad.csv');
  assert.throws(
    () => csvColumns(bad, 'bad.csv', '', 'classification', undefined),
    /bad\.csv: line 3, column 'x1': 'abc' is not a number/,
  );
  assert.throws(
    () => csvColumns(bad, 'bad.csv', 'label', 'classification', undefined),
    /no column 'label' for data.target; columns are x1, y/,
  );
});

test('a CSV regression dataset standardizes features with training statistics only and holds out the last rows', () => {
  const dir = tmp();
  const rows = Array.from({ length: 10 }, (_, i) => `${i},${10 * i},${2 * i + 1}`);
  fs.writeFileSync(path.join(dir, 'train.csv'), `a,b,y\n${rows.join('\n')}\n`);
  fs.writeFileSync(path.join(dir, 'test.csv'), 'a,b,y\n100,0,7\n');
  const spec: DataSpec = {
    ...DEFAULT_JOB.data,
    dataset: 'csv',
    trainFile: path.join(dir, 'train.csv'),
    testFile: path.join(dir, 'test.csv'),
    task: 'regression',
    valFraction: 0.2,
  };
  const d = loadDataset(spec);
  assert.equal(d.train.count, 8);
  assert.equal(d.val.count, 2);
  assert.equal(d.test.count, 1);
  // Train rows a = 0..7: mean 3.5, population std sqrt(5.25).
  assert.deepEqual(d.preprocess.mean, [3.5, 35]);
  assert.ok(Math.abs(d.preprocess.std[0]! - Math.sqrt(5.25)) < 1e-9);
  assert.ok(Math.abs(d.train.images[0]! - -3.5 / Math.sqrt(5.25)) < 1e-6);
  assert.ok(Math.abs(d.test.images[0]! - (100 - 3.5) / Math.sqrt(5.25)) < 1e-4);
  assert.deepEqual(Array.from(d.val.targets!), [17, 19]);
  assert.deepEqual(Array.from(d.test.targets!), [7]);
  assert.deepEqual(d.sampleShape, [2]);
  assert.equal(d.preprocess.target, 'y');
  assert.throws(
    () => loadDataset({ ...spec, testFile: '', valFraction: 0 }),
    /needs data.testFile or data.valFraction > 0/,
  );
});
