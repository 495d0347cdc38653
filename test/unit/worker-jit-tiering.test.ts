import { after, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { TIER_UP_STEPS, TierUpStop, tuneJit } from '../../src/worker/jit-tiering';

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
  assert.deepEqual(tuneJit({}, ['--max-opt=2']), { applied: false, note: 'tier-up as node was told (--max-opt=2)' });
});

test('by default a worker stops tiering up after TIER_UP_STEPS steps', () => {
  const probe = `const { tuneJit } = require(${JSON.stringify(path.resolve(__dirname, '../../src/worker/jit-tiering.js'))}); console.log(JSON.stringify(tuneJit({}, [])));`;
  const out = JSON.parse(execFileSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 30_000 })) as {
    stopAfterSteps?: number;
    note: string;
  };
  assert.equal(out.stopAfterSteps, TIER_UP_STEPS);
  assert.match(out.note, new RegExp(`none after ${TIER_UP_STEPS} steps`));
});

/**
 * A child that gets one function optimized, stops tier-up through TierUpStop, then runs a fresh
 * function hot and knocks the optimized one off its assumptions (a deopt).
 */
const STOP_PROBE = `
const { TierUpStop } = require(${JSON.stringify(path.resolve(__dirname, '../../src/worker/jit-tiering.js'))});
const OPTIMIZED = 16;
function warm(a, b) { return a * 3 + b - (a > b ? 1 : 2); }
function later(a, b) { return a * 5 - b + (a < b ? 3 : 4); }
for (let i = 0; i < 1000000 && !(%GetOptimizationStatus(warm) & OPTIMIZED); i++) warm(i, i + 1);
const warmBefore = (%GetOptimizationStatus(warm) & OPTIMIZED) !== 0;
const stop = new TierUpStop(Number(process.env.STOP_AT));
const fired = [99, 100, 101].map((s) => stop.afterStep(s));
let sum = 0;
for (let i = 0; i < 300000; i++) sum += later(i, i + 1);
const warmAfter = (%GetOptimizationStatus(warm) & OPTIMIZED) !== 0;
// Strings where numbers were seen: the optimized code deopts, and nothing optimizes it again.
const mixed = warm('1', '2');
for (let i = 0; i < 300000; i++) warm(i, i + 1);
console.log(JSON.stringify({
  warmBefore, fired, warmAfter, sum, mixed,
  later: (%GetOptimizationStatus(later) & OPTIMIZED) !== 0,
  warmAgain: (%GetOptimizationStatus(warm) & OPTIMIZED) !== 0,
}));
`;

test('after TierUpStop fires, V8 keeps code it optimized, optimizes nothing new, and deoptimized code still computes', () => {
  const file = path.join(dir, 'stop-probe.js');
  fs.writeFileSync(file, STOP_PROBE);
  const run = (stopAt: string): Record<string, unknown> =>
    JSON.parse(
      execFileSync(process.execPath, ['--allow-natives-syntax', '--no-concurrent-recompilation', file], {
        env: { ...process.env, STOP_AT: stopAt },
        encoding: 'utf8',
        timeout: 30_000,
      }),
    ) as Record<string, unknown>;
  let expected = 0;
  for (let i = 0; i < 300000; i++) expected += i * 5 - (i + 1) + 3;
  const stopped = run('100');
  assert.deepEqual(stopped, {
    warmBefore: true,
    fired: [false, true, false],
    warmAfter: true,
    sum: expected,
    mixed: 30, // '1' * 3 + '2' is '32', minus 2
    later: false,
    warmAgain: false,
  });
  // The control: with no stop (a step never reached), the same run optimizes both again.
  const free = run('1000000');
  assert.equal(free.later, true);
  assert.equal(free.warmAgain, true);
});

test('TierUpStop stops once, at the first step at or past its step (a resumed run starts past it), and never without one', () => {
  let stops = 0;
  const resumed = new TierUpStop(2000, () => (stops += 1));
  assert.deepEqual(
    [1999, 2500, 2501].map((s) => resumed.afterStep(s)),
    [false, true, false],
  );
  assert.equal(stops, 1);
  const off = new TierUpStop(undefined, () => (stops += 1));
  assert.deepEqual(
    [1, 2000, 1e9].map((s) => off.afterStep(s)),
    [false, false, false],
  );
  assert.equal(stops, 1);
});
