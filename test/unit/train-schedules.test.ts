/**
 * Learning-rate sequences of every schedule, warmup, the linear scaling rule, clipping and
 * early stopping, against values worked out by hand from torch's formulas.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { DEFAULT_JOB, type ScheduleSpec } from '../../src/config';
import { EarlyStopping, LrSchedule, clipToNorm, globalNorm, scaledLr } from '../../src/train';
import { kernelSet, nativeUpdates, setNativeKernels } from '../../src/native';

const spec = (s: Partial<ScheduleSpec>): ScheduleSpec => ({ ...DEFAULT_JOB.train.schedule, ...s });
const seq = (sch: LrSchedule, n: number): number[] => Array.from({ length: n }, (_, t) => sch.lrAt(t));

function assertClose(got: number[], want: number[], label: string): void {
  assert.equal(got.length, want.length, label);
  got.forEach((g, i) =>
    assert.ok(
      Math.abs(g - want[i]!) < 1e-9,
      `${label}: tick ${i}: got ${g}, want ${want[i]}\n  got  ${got.join(', ')}\n  want ${want.join(', ')}`,
    ),
  );
}

test('constant keeps the base lr', () => {
  assertClose(seq(new LrSchedule(spec({ name: 'constant' }), 0.1, 5), 4), [0.1, 0.1, 0.1, 0.1], 'constant');
});

test('step halves the lr every 2 ticks (StepLR step_size=2, gamma=0.5)', () => {
  assertClose(
    seq(new LrSchedule(spec({ name: 'step', stepSize: 2, gamma: 0.5 }), 0.1, 6), 6),
    [0.1, 0.1, 0.05, 0.05, 0.025, 0.025],
    'step',
  );
});

test('multistep multiplies by gamma at each milestone (MultiStepLR [2, 5], gamma 0.1)', () => {
  assertClose(
    seq(new LrSchedule(spec({ name: 'multistep', milestones: [2, 5], gamma: 0.1 }), 1, 7), 7),
    [1, 1, 0.1, 0.1, 0.1, 0.01, 0.01],
    'multistep',
  );
});

test('exponential multiplies by gamma every tick (ExponentialLR gamma 0.9)', () => {
  assertClose(
    seq(new LrSchedule(spec({ name: 'exponential', gamma: 0.9 }), 1, 4), 4),
    [1, 0.9, 0.81, 0.729],
    'exponential',
  );
});

test('cosine anneals from lr to etaMin over tMax ticks (CosineAnnealingLR T_max=4)', () => {
  // eta_min + (lr - eta_min) * (1 + cos(pi t / 4)) / 2 with lr 1, eta_min 0.2:
  // t=1: 0.2 + 0.8 * (1 + 0.70710678) / 2 = 0.88284271; t=3: 0.2 + 0.8 * (1 - 0.70710678) / 2 = 0.31715729
  assertClose(
    seq(new LrSchedule(spec({ name: 'cosine', tMax: 4, etaMin: 0.2 }), 1, 99), 5),
    [1, 0.8828427124746191, 0.6, 0.31715728752538095, 0.2],
    'cosine',
  );
});

test('cosine with tMax 0 spans the run after warmup', () => {
  // 6 ticks in total, 2 of warmup: the cosine spans 4 ticks.
  const s = new LrSchedule(spec({ name: 'cosine', warmup: 2, warmupStartFactor: 0.5 }), 1, 6);
  assertClose(seq(s, 7), [0.5, 0.75, 1, 0.8535533905932737, 0.5, 0.14644660940672627, 0], 'warmup + cosine');
});

test('polynomial decays to 0 at tMax and stays there (PolynomialLR total_iters=4, power=2)', () => {
  // torch 2.x printed [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0] for this schedule from lr 1.
  assertClose(
    seq(new LrSchedule(spec({ name: 'polynomial', tMax: 4, power: 2 }), 1, 99), 6),
    [1, 0.5625, 0.25, 0.0625, 0, 0],
    'polynomial',
  );
});

test('polynomial power 1 with tMax 0 is the linear decay to 0 after warmup (SequentialLR of LinearLR and PolynomialLR)', () => {
  // torch: LinearLR(start_factor 0.5, total_iters 2) then PolynomialLR(total_iters 4, power 1)
  // at milestone 2 printed [0.5, 0.75, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0].
  const s = new LrSchedule(spec({ name: 'polynomial', warmup: 2, warmupStartFactor: 0.5 }), 1, 6);
  assertClose(seq(s, 8), [0.5, 0.75, 1, 0.75, 0.5, 0.25, 0, 0], 'warmup + linear decay');
});

test('cosine-restarts starts a new cosine every tMax ticks, each tMult times longer (CosineAnnealingWarmRestarts)', () => {
  // torch 1.13 printed these for T_0=3, T_mult=1, eta_min=0.1 and T_0=2, T_mult=2, eta_min=0, from lr 1.
  assertClose(
    seq(new LrSchedule(spec({ name: 'cosine-restarts', tMax: 3, etaMin: 0.1 }), 1, 99), 8),
    [1.0, 0.775, 0.3250000000000001, 1.0, 0.775, 0.3250000000000001, 1.0, 0.775],
    'T_mult 1',
  );
  assertClose(
    seq(new LrSchedule(spec({ name: 'cosine-restarts', tMax: 2, tMult: 2 }), 1, 99), 15),
    [
      1.0, 0.5, 1.0, 0.8535533905932737, 0.5, 0.14644660940672627, 1.0, 0.9619397662556434, 0.8535533905932737,
      0.6913417161825449, 0.5, 0.30865828381745514, 0.14644660940672627, 0.03806023374435663, 1.0,
    ],
    'T_mult 2',
  );
});

test('onecycle climbs from lr / divFactor to lr over pctStart of the cycle, anneals to lr / divFactor / finalDivFactor, and moves momentum the other way (OneCycleLR)', () => {
  // torch 1.13, OneCycleLR(SGD(momentum 0.9), max_lr=0.1, total_steps=10), the defaults:
  const s = new LrSchedule(spec({ name: 'onecycle', tMax: 10 }), 0.1, 99);
  assertClose(
    seq(s, 10),
    [
      0.004, 0.052, 0.1, 0.09504846320134738, 0.0811745653949763, 0.06112620219362893, 0.03887419780637107,
      0.0188258346050237, 0.004951936798652629, 4e-7,
    ],
    'lr',
  );
  assertClose(
    Array.from({ length: 10 }, (_, t) => s.momentumAt(t) as number),
    [
      0.95, 0.9, 0.85, 0.854951556604879, 0.8688255099070633, 0.8888739533021842, 0.9111260466978157,
      0.9311744900929366, 0.945048443395121, 0.95,
    ],
    'momentum',
  );
  assert.equal(s.lrAt(25), s.lrAt(9), 'past the cycle the lr stays at its last value (torch raises)');
  // ... and with Adam, linear steps, pct_start 0.25, div 10, final div 100, momenta 0.8-0.9 (beta1):
  const a = new LrSchedule(
    spec({
      name: 'onecycle',
      pctStart: 0.25,
      anneal: 'linear',
      divFactor: 10,
      finalDivFactor: 100,
      baseMomentum: 0.8,
      maxMomentum: 0.9,
    }),
    0.1,
    8,
  );
  assertClose(
    seq(a, 8),
    [
      0.01, 0.1, 0.08335000000000001, 0.06670000000000001, 0.050050000000000004, 0.03340000000000001, 0.01675,
      0.00010000000000000286,
    ],
    'linear lr, tMax 0 = the run',
  );
  assertClose(
    Array.from({ length: 8 }, (_, t) => a.momentumAt(t) as number),
    [0.9, 0.8, 0.8166666666666667, 0.8333333333333334, 0.8500000000000001, 0.8666666666666667, 0.8833333333333333, 0.9],
    'beta1',
  );
  assert.equal(
    new LrSchedule(spec({ name: 'onecycle', cycleMomentum: false }), 0.1, 8).momentumAt(3),
    undefined,
    'cycleMomentum off: the optimizer keeps its own',
  );
  assert.equal(
    new LrSchedule(spec({ name: 'cosine' }), 0.1, 8).momentumAt(3),
    undefined,
    'only onecycle moves momentum',
  );
});

test('onecycle with threePhase climbs to the peak, comes back to lr / divFactor as fast, then anneals to the end; momentum mirrors it and stays up (OneCycleLR three_phase=True)', () => {
  // torch 1.13, OneCycleLR(SGD(momentum 0.9), max_lr=0.1, total_steps=10, three_phase=True):
  const s = new LrSchedule(spec({ name: 'onecycle', tMax: 10, threePhase: true }), 0.1, 99);
  assertClose(
    seq(s, 10),
    [
      0.0040000000000000036, 0.052000000000000005, 0.1, 0.052000000000000005, 0.004, 0.0036180721853510196,
      0.0026181721853510195, 0.0013822278146489802, 0.0003823278146489803, 4e-7,
    ],
    'lr',
  );
  assertClose(
    Array.from({ length: 10 }, (_, t) => s.momentumAt(t) as number),
    [0.95, 0.8999999999999999, 0.85, 0.8999999999999999, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95],
    'momentum',
  );
  // ... Adam, linear, pct_start 0.25, div 10, final div 100, momenta 0.8-0.9, 12 steps:
  const a = new LrSchedule(
    spec({
      name: 'onecycle',
      threePhase: true,
      pctStart: 0.25,
      anneal: 'linear',
      divFactor: 10,
      finalDivFactor: 100,
      baseMomentum: 0.8,
      maxMomentum: 0.9,
    }),
    0.1,
    12,
  );
  assertClose(
    seq(a, 12),
    [
      0.01, 0.05500000000000001, 0.1, 0.055, 0.009999999999999995, 0.008585714285714287, 0.007171428571428572,
      0.005757142857142857, 0.004342857142857143, 0.002928571428571428, 0.0015142857142857145, 9.99999999999994e-5,
    ],
    'linear lr',
  );
  assertClose(
    Array.from({ length: 12 }, (_, t) => a.momentumAt(t) as number),
    [0.9, 0.8500000000000001, 0.8, 0.8500000000000001, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9],
    'beta1',
  );
  assert.equal(a.lrAt(40), a.lrAt(11), 'past the cycle the lr stays at its last value');
});

test('linear warmup climbs from lr x startFactor to lr, then the schedule starts at its own tick 0', () => {
  // LinearLR(start_factor 0.25, total_iters 3): 0.25, 0.5, 0.75; then StepLR(2, 0.1) from 0.
  const s = new LrSchedule(
    spec({ name: 'step', warmup: 3, warmupStartFactor: 0.25, stepSize: 2, gamma: 0.1 }),
    0.4,
    10,
  );
  assertClose(seq(s, 7), [0.1, 0.2, 0.3, 0.4, 0.4, 0.04, 0.04], 'warmup + step');
});

test('plateau reduces the lr after patience bad epochs, honours cooldown and minLr', () => {
  const s = new LrSchedule(
    spec({ name: 'plateau', patience: 1, factor: 0.5, threshold: 0, cooldown: 1, minLr: 0.3 }),
    1,
    10,
    'min',
  );
  const losses = [1.0, 0.9, 0.95, 0.93, 0.92, 0.91, 0.99, 0.98, 0.97];
  const lrs: number[] = [];
  const reduced: boolean[] = [];
  losses.forEach((l, e) => {
    reduced.push(s.observe(l, e));
    lrs.push(s.lrAt(e + 1));
  });
  // 1.0 best; 0.9 best; 0.95 bad 1; 0.93 bad 2 > 1 -> 0.5, cooldown 1; 0.92 in cooldown (bad reset);
  // 0.91 best (0.91 < 0.9? no: bad 1); 0.99 bad 2 -> 0.25 clamped to minLr 0.3; then cooldown, then
  // 0.97 bad 1 and nothing more: the floor holds.
  assert.deepEqual(reduced, [false, false, false, true, false, false, true, false, false]);
  assertClose(lrs, [1, 1, 1, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3], 'plateau');
});

test('plateau in max mode (accuracy) counts rises as improvements and its state survives a save/load', () => {
  const a = new LrSchedule(spec({ name: 'plateau', patience: 0, factor: 0.1, threshold: 0.01 }), 1, 10, 'max');
  assert.equal(a.observe(0.5, 0), false);
  assert.equal(a.observe(0.504, 1), true); // not 1% better than 0.5: bad epoch, patience 0
  const b = new LrSchedule(spec({ name: 'plateau', patience: 0, factor: 0.1, threshold: 0.01 }), 1, 10, 'max');
  b.load(JSON.parse(JSON.stringify(a.state())) as ReturnType<typeof a.state>);
  assert.ok(Math.abs(b.lrAt(5) - 0.1) < 1e-12);
  assert.equal(b.observe(0.6, 2), false); // a real improvement
  assert.ok(Math.abs(b.lrAt(5) - 0.1) < 1e-12);
});

test('the linear scaling rule multiplies lr by the world size only when asked', () => {
  assert.equal(scaledLr(0.1, 8, true), 0.8);
  assert.equal(scaledLr(0.1, 8, false), 0.1);
});

test('clipping scales a gradient of norm 5 to norm 1 and leaves smaller ones alone', () => {
  const g = new Float32Array([3, 4]);
  const n = globalNorm(g);
  assert.equal(n, 5);
  const coef = clipToNorm(g, n, 1);
  // torch: max_norm / (total_norm + 1e-6)
  assert.ok(Math.abs(coef - 1 / (5 + 1e-6)) < 1e-15);
  assert.ok(Math.abs(g[0]! - 0.6) < 1e-6 && Math.abs(g[1]! - 0.8) < 1e-6, `clipped to ${g[0]}, ${g[1]}`);
  const small = new Float32Array([0.3, 0.4]);
  assert.equal(clipToNorm(small, globalNorm(small), 1), 1);
  assert.deepEqual(small, new Float32Array([0.3, 0.4]));
  assert.equal(clipToNorm(small, 0.5, 0), 1, 'clipNorm 0 means off');
  assert.ok(Number.isNaN(globalNorm(new Float32Array([1, NaN]))));
  assert.equal(globalNorm(new Float32Array([1, Infinity])), Infinity);
});

test('early stopping stops once patience epochs in a row miss the best by more than minDelta', () => {
  const es = new EarlyStopping(2, 0.005, 'min');
  const losses = [1.0, 0.8, 0.7, 0.698, 0.71, 0.69, 0.5];
  const verdicts = losses.map((l, i) => es.update(l, i + 1));
  // 0.698 is better than 0.7 but not by 0.005: a miss. 0.71 a miss -> stop after epoch 5.
  assert.deepEqual(
    verdicts.map((v) => v.improved),
    [true, true, true, false, false, true, true],
  );
  assert.equal(verdicts.findIndex((v) => v.stop) + 1, 5);
  assert.deepEqual(es.state().bestEpoch, 7);
  const acc = new EarlyStopping(1, 0, 'max');
  assert.deepEqual(
    [0.9, 0.95, 0.95].map((a, i) => acc.update(a, i + 1).stop),
    [false, false, true],
  );
  const off = new EarlyStopping(0, 0, 'min');
  assert.equal(
    [1, 2, 3, 4].some((l, i) => off.update(l, i + 1).stop),
    false,
    'patience 0 never stops',
  );
});

test('the gradient norm and clipping give the same bits with and without the native addon', () => {
  setNativeKernels(true);
  assert.ok(nativeUpdates() !== undefined, `the native addon is not in use: ${kernelSet().why}`);
  let seed = 777;
  const rand = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
  // Every remainder modulo the four lanes, and magnitudes far apart (order matters to rounding).
  for (const size of [1, 2, 3, 4, 5, 7, 1001, 4098]) {
    const g = Float32Array.from({ length: size }, () => rand() * 10 ** Math.floor(8 * rand() - 2));
    const onPath = (native: boolean): { norm: number; clipped: Float32Array } => {
      setNativeKernels(native);
      try {
        const copy = g.slice();
        const norm = globalNorm(copy);
        clipToNorm(copy, norm, norm / 3);
        return { norm, clipped: copy };
      } finally {
        setNativeKernels(true);
      }
    };
    const js = onPath(false);
    const native = onPath(true);
    // Against a plain float64 sum, to the rounding a different order allows.
    const plain = Math.sqrt(Array.from(g).reduce((s, v) => s + v * v, 0));
    assert.ok(Math.abs(js.norm - plain) <= 1e-12 * plain, `size ${size}: norm ${js.norm} vs ${plain}`);
    assert.equal(native.norm, js.norm, `size ${size}: norms differ`);
    assert.deepEqual(native.clipped, js.clipped, `size ${size}: clipped gradients differ`);
    assert.ok(
      js.clipped.some((v, i) => v !== g[i]),
      `size ${size}: nothing was clipped`,
    );
  }
});

test('the global norm has the same bits with and without the native addon, at every remainder of 16 lanes', () => {
  const lengths = [0, 1, 5, 15, 16, 17, 31, 33, 101_770];
  for (const n of lengths) {
    // Values of very different sizes, so a different summation order would change the bits.
    const g = new Float32Array(n).map((_, i) => Math.sin(i * 1.7) * 10 ** ((i % 7) - 3));
    setNativeKernels(true);
    const native = globalNorm(g);
    setNativeKernels(false);
    const js = globalNorm(g);
    setNativeKernels(true);
    assert.equal(native, js, `length ${n}`);
  }
  // The sum is taken in float64: 1e20^2 does not overflow float32's range into Infinity.
  const big = new Float32Array([3e19, 4e19]);
  assert.equal(globalNorm(big), Math.hypot(big[0]!, big[1]!));
});
