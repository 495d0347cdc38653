import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spreadsOnHotPath } from '../../scripts/hot-path-spreads';

test('an object that starts with a spread and goes on is refused on the step path, with its line', () => {
  const code = [
    'const a = 1;',
    'deliver({ ...arrival, bytes });',
    'const b = {',
    '  ...tallyOf(t),',
    '  x: 1,',
    '};',
  ].join('\n');
  const found = spreadsOnHotPath('src/allreduce/collective-server.ts', code);
  assert.equal(found.length, 2);
  assert.match(found[0] as string, /^src\/allreduce\/collective-server\.ts:2: an object that starts with a spread/);
  assert.match(found[1] as string, /^src\/allreduce\/collective-server\.ts:3: /);
  assert.equal(spreadsOnHotPath('src/worker/step-runner.ts', code).length, 2);
  assert.equal(spreadsOnHotPath('src/train/fused-step.ts', code).length, 2);
});

test('written-out fields, a spread that comes last or alone, and code off the step path pass', () => {
  const code = 'f({ from: r.from, to: r.to }); g({ a: 1, ...rest }); const c = { ...o }; const [x, ...y] = z;';
  assert.deepEqual(spreadsOnHotPath('src/worker/step-runner.ts', code), []);
  const spread = 'f({ ...o, x: 1 });';
  assert.deepEqual(spreadsOnHotPath('src/worker/life-cycle.ts', spread), []);
  assert.deepEqual(spreadsOnHotPath('src/allreduce/grpc-h2.ts', spread), [], 'session options are built once');
});
