import { after, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { tuneJit } from '../../src/worker/jit-tiering';

const dir = fs.mkdtempSync(path.join(tmpdir(), 'ringtrain-jit-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * A child that calls a small function until V8 has optimized it and prints how many calls that
 * took. Synchronous recompilation makes the count exact: the optimized code is in place on the
 * call after V8 decides to optimize.
 */
const PROBE = `
const { tuneJit } = require(${JSON.stringify(path.resolve(__dirname, '../../src/worker/jit-tiering.js'))});
const r = tuneJit(process.env.PROBE_ENV === 'default' ? { RINGTRAIN_JIT: 'default' } : {}, []);
function step(a, b) { const x = a * 3 + b; const y = x * x - a; const z = y / (b + 1); return z + x - y * 0.5 + (a > b ? 1 : 2); }
// Sparkplug's baseline code (status bit 15) from the first calls, instead of after many.
function fresh(a) { return a * 2 + 1; }
fresh(1);
fresh(2);
const baseline = (%GetOptimizationStatus(fresh) & (1 << 15)) !== 0;
let calls = 0;
for (; calls < 1000000; calls++) {
  step(calls, calls + 1);
  if (%GetOptimizationStatus(step) & 16) break;
}
console.log(JSON.stringify({ applied: r.applied, calls, baseline }));
`;

interface Probe {
  applied: boolean;
  /** Calls until TurboFan's code was in place. */
  calls: number;
  /** A function called twice already runs Sparkplug's baseline code. */
  baseline: boolean;
}

function callsUntilOptimized(env: 'default' | 'early'): Probe {
  const file = path.join(dir, 'probe.js');
  fs.writeFileSync(file, PROBE);
  const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--no-concurrent-recompilation', file], {
    env: { ...process.env, PROBE_ENV: env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return JSON.parse(out) as Probe;
}

test('a worker optimizes a function called once per step after about a quarter of the calls V8 waits for, and runs baseline code from the start', () => {
  const byDefault = callsUntilOptimized('default');
  const early = callsUntilOptimized('early');
  assert.equal(byDefault.applied, false);
  assert.equal(early.applied, true);
  assert.ok(byDefault.calls < 1_000_000, 'V8 never optimized the probe');
  assert.ok(
    early.calls * 3 < byDefault.calls,
    `early tier-up took ${early.calls} calls against ${byDefault.calls} by default`,
  );
  assert.equal(byDefault.baseline, false);
  assert.equal(early.baseline, true);
});

test('RINGTRAIN_JIT=default or an --interrupt-budget given to node leaves V8 alone, and says so', () => {
  assert.deepEqual(tuneJit({ RINGTRAIN_JIT: 'default' }, []), {
    applied: false,
    note: "V8's default tier-up (RINGTRAIN_JIT=default)",
  });
  assert.deepEqual(tuneJit({}, ['--single-threaded-gc', '--interrupt-budget=100000']), {
    applied: false,
    note: 'tier-up as node was told (--interrupt-budget=100000)',
  });
});
