import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { parseSetArgs } from '../../src/config';
import { configError } from './support';

test('dotted keys become a nested object with YAML-typed values', () => {
  assert.deepEqual(parseSetArgs(['data.batchSize=32', 'train.epochs=1', 'model.hidden=[256,128]', 'name=foo']), {
    data: { batchSize: 32 },
    train: { epochs: 1 },
    model: { hidden: [256, 128] },
    name: 'foo',
  });
});

test('values read as YAML scalars: numbers, booleans, quoted text and empty strings', () => {
  const out = parseSetArgs(['a=true', 'b=0.01', 'c="32"', 'd=', 'e=1e3', 'f= spaced ', 'g=a=b']);
  assert.deepEqual(out, { a: true, b: 0.01, c: '32', d: '', e: 1000, f: 'spaced', g: 'a=b' });
});

test('items for the same group merge and a later item wins', () => {
  assert.deepEqual(parseSetArgs(['train.lr=0.1', 'train.epochs=2', 'train.lr=0.5']), {
    train: { lr: 0.5, epochs: 2 },
  });
  assert.deepEqual(parseSetArgs(['data=5', 'data.batchSize=8']), { data: { batchSize: 8 } });
});

test('an item without an equals sign names the item and the expected form', () => {
  const message = configError(() => parseSetArgs(['data.batchSize']));
  assert.equal(message, "--set: 'data.batchSize' has no '='; expected --set key=value, e.g. --set data.batchSize=32");
});

test('an empty key or an empty path segment is rejected', () => {
  assert.match(
    configError(() => parseSetArgs(['=5'])),
    /--set: '=5' has an empty key; expected --set key=value/,
  );
  assert.match(
    configError(() => parseSetArgs(['data..x=1'])),
    /'data\.\.x=1' has an empty key/,
  );
});

test('every malformed item is reported in one error', () => {
  const lines = configError(() => parseSetArgs(['ok=1', 'bad', '=2', 'model.hidden=[1,2'])).split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0] ?? '', /'bad' has no '='/);
  assert.match(lines[1] ?? '', /'=2' has an empty key/);
  assert.match(lines[2] ?? '', /'model\.hidden=\[1,2' has a value that is not valid YAML: /);
});

test('errors name RINGTRAIN_SET and its form when the items came from the environment', () => {
  const message = configError(() => parseSetArgs(['oops'], 'RINGTRAIN_SET'));
  assert.equal(
    message,
    "RINGTRAIN_SET: 'oops' has no '='; expected key=value, " + "e.g. RINGTRAIN_SET='data.batchSize=32;train.epochs=1'",
  );
});

test('a __proto__ key becomes an own field and does not pollute Object.prototype', () => {
  const out = parseSetArgs(['__proto__.polluted=1']);
  assert.deepEqual(Object.keys(out), ['__proto__']);
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
});
