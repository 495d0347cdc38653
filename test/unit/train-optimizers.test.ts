/**
 * Each optimizer against an independent transcription of torch.optim's documented update rules
 * (plain float64 arrays, written from the torch docs' pseudo-code, not from our source), on a
 * small ill-conditioned quadratic with a changing learning rate, plus closed-form checks; and the
 * native (C++) update loops against the JS ones, bit for bit.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { createOptimizer, noDecayRanges, type OptimizerOptions } from '../../src/train/optimizers';
import { kernelSet, nativeUpdates, setNativeKernels } from '../../src/native';
import type { OptimizerName } from '../../src/config';

const N = 7;
const STEPS = 40;
/** f(p) = 0.5 * sum a_i (p_i - c_i)^2, so grad_i = a_i (p_i - c_i). */
const A = [0.5, 1, 2, 4, 8, 0.1, 3];
const C = [1, -2, 0.5, 3, -1, 2, 0];
const P0 = [0, 0.5, -1, 1, 2, -3, 0.25];
const lrAt = (t: number): number => 0.05 * (1 + 0.5 * Math.cos(t / 3));
const grad = (p: ArrayLike<number>): number[] => A.map((a, i) => a * ((p[i] as number) - (C[i] as number)));

const BASE: OptimizerOptions = {
  momentum: 0,
  nesterov: false,
  weightDecay: 0,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  alpha: 0.99,
};

/** torch.optim.SGD pseudo-code (dampening 0); `mAt` is a scheduler's momentum for step t. */
function refSgd(o: OptimizerOptions, mAt: (t: number) => number = () => o.momentum): number[][] {
  const p = P0.slice();
  let b: number[] | undefined;
  const out: number[][] = [];
  for (let t = 0; t < STEPS; t++) {
    let g = grad(p).map((gi, i) => gi + o.weightDecay * (p[i] as number));
    if (o.momentum !== 0) {
      const m = mAt(t);
      b = b === undefined ? g.slice() : b.map((bi, i) => m * bi + (g[i] as number));
      const bb = b;
      g = o.nesterov ? g.map((gi, i) => gi + m * (bb[i] as number)) : bb.slice();
    }
    for (let i = 0; i < N; i++) p[i] = (p[i] as number) - lrAt(t) * (g[i] as number);
    out.push(p.slice());
  }
  return out;
}

/** torch.optim.Adam / AdamW pseudo-code (amsgrad off, maximize off); `b1At` is a scheduler's beta1 for step t. */
function refAdam(o: OptimizerOptions, decoupled: boolean, b1At: (t: number) => number = () => o.beta1): number[][] {
  const p = P0.slice();
  const m = new Array<number>(N).fill(0);
  const v = new Array<number>(N).fill(0);
  const out: number[][] = [];
  for (let t = 1; t <= STEPS; t++) {
    const lr = lrAt(t - 1);
    const b1 = b1At(t - 1);
    const raw = grad(p);
    for (let i = 0; i < N; i++) {
      let g = raw[i] as number;
      if (decoupled) p[i] = (p[i] as number) - lr * o.weightDecay * (p[i] as number);
      else g += o.weightDecay * (p[i] as number);
      m[i] = b1 * (m[i] as number) + (1 - b1) * g;
      v[i] = o.beta2 * (v[i] as number) + (1 - o.beta2) * g * g;
      const mHat = (m[i] as number) / (1 - b1 ** t);
      const vHat = (v[i] as number) / (1 - o.beta2 ** t);
      p[i] = (p[i] as number) - (lr * mHat) / (Math.sqrt(vHat) + o.eps);
    }
    out.push(p.slice());
  }
  return out;
}

/** torch.optim.RMSprop pseudo-code (centered off); `mAt` is a scheduler's momentum for step t. */
function refRmsprop(o: OptimizerOptions, mAt: (t: number) => number = () => o.momentum): number[][] {
  const p = P0.slice();
  const sq = new Array<number>(N).fill(0);
  const b = new Array<number>(N).fill(0);
  const out: number[][] = [];
  for (let t = 0; t < STEPS; t++) {
    const raw = grad(p);
    for (let i = 0; i < N; i++) {
      const g = (raw[i] as number) + o.weightDecay * (p[i] as number);
      sq[i] = o.alpha * (sq[i] as number) + (1 - o.alpha) * g * g;
      const avg = Math.sqrt(sq[i] as number) + o.eps;
      if (o.momentum > 0) {
        b[i] = mAt(t) * (b[i] as number) + g / avg;
        p[i] = (p[i] as number) - lrAt(t) * (b[i] as number);
      } else {
        p[i] = (p[i] as number) - (lrAt(t) * g) / avg;
      }
    }
    out.push(p.slice());
  }
  return out;
}

function ours(
  name: OptimizerName,
  o: OptimizerOptions,
  steps = STEPS,
  from?: { p: Float32Array; opt: ReturnType<typeof createOptimizer> },
  mAt?: (t: number) => number,
): { traj: number[][]; p: Float32Array; opt: ReturnType<typeof createOptimizer> } {
  const opt = from?.opt ?? createOptimizer(name, N, o);
  const p = from?.p ?? Float32Array.from(P0);
  const traj: number[][] = [];
  const start = opt.state().steps;
  for (let t = start; t < start + steps; t++) {
    opt.step(p, Float32Array.from(grad(p)), lrAt(t), mAt?.(t));
    traj.push(Array.from(p));
  }
  return { traj, p, opt };
}

function assertTrajectoriesEqual(got: number[][], want: number[][], label: string): void {
  assert.equal(got.length, want.length);
  let moved = 0;
  for (let t = 0; t < want.length; t++) {
    for (let i = 0; i < N; i++) {
      const w = want[t]![i]!;
      const g = got[t]![i]!;
      // float32 storage against float64 reference: a few ulps of drift over 40 steps.
      assert.ok(
        Math.abs(g - w) <= 2e-5 * Math.max(1, Math.abs(w)),
        `${label}: step ${t + 1} param ${i}: got ${g}, reference ${w}`,
      );
    }
  }
  for (let i = 0; i < N; i++) moved = Math.max(moved, Math.abs(want[want.length - 1]![i]! - P0[i]!));
  assert.ok(moved > 0.1, `${label}: parameters barely moved (${moved}); the comparison would be vacuous`);
}

const CASES: { label: string; name: OptimizerName; o: OptimizerOptions; ref: (o: OptimizerOptions) => number[][] }[] = [
  { label: 'sgd', name: 'sgd', o: BASE, ref: refSgd },
  {
    label: 'sgd momentum 0.9 + weight decay',
    name: 'sgd',
    o: { ...BASE, momentum: 0.9, weightDecay: 0.01 },
    ref: refSgd,
  },
  { label: 'sgd nesterov', name: 'sgd', o: { ...BASE, momentum: 0.8, nesterov: true, weightDecay: 0.05 }, ref: refSgd },
  { label: 'adam', name: 'adam', o: BASE, ref: (o) => refAdam(o, false) },
  {
    label: 'adam + L2 weight decay',
    name: 'adam',
    o: { ...BASE, weightDecay: 0.1, beta1: 0.8, beta2: 0.99 },
    ref: (o) => refAdam(o, false),
  },
  { label: 'adamw (decoupled decay)', name: 'adamw', o: { ...BASE, weightDecay: 0.1 }, ref: (o) => refAdam(o, true) },
  { label: 'rmsprop', name: 'rmsprop', o: BASE, ref: refRmsprop },
  {
    label: 'rmsprop momentum + weight decay',
    name: 'rmsprop',
    o: { ...BASE, momentum: 0.5, weightDecay: 0.02, alpha: 0.9 },
    ref: refRmsprop,
  },
];

for (const c of CASES) {
  test(`${c.label} follows torch's update rule step by step for ${STEPS} steps`, () => {
    assertTrajectoriesEqual(ours(c.name, c.o).traj, c.ref(c.o), c.label);
  });

  test(`${c.label} resumed from saved state continues bit-identically`, () => {
    const straight = ours(c.name, c.o);
    const first = ours(c.name, c.o, STEPS / 2);
    const saved = first.opt.state();
    const copy = {
      name: saved.name,
      steps: saved.steps,
      slots: Object.fromEntries(Object.entries(saved.slots).map(([k, v]) => [k, v.slice()])),
    };
    const fresh = createOptimizer(c.name, N, c.o);
    fresh.load(copy);
    const second = ours(c.name, c.o, STEPS / 2, { p: first.p.slice(), opt: fresh });
    assert.deepEqual(second.p, straight.p);
  });
}

/** A onecycle-like momentum: 0.95 down to 0.85 and back over the 40 steps. */
const cycledMomentum = (t: number): number => 0.9 + 0.05 * Math.cos((2 * Math.PI * t) / STEPS);

test("a momentum cycled by the schedule (onecycle) replaces train.momentum or Adam's beta1, bias correction included, as torch's scheduler setting the param group does", () => {
  const sgd = { ...BASE, momentum: 0.5, weightDecay: 0.01 };
  assertTrajectoriesEqual(ours('sgd', sgd, STEPS, undefined, cycledMomentum).traj, refSgd(sgd, cycledMomentum), 'sgd');
  const nesterov = { ...sgd, nesterov: true };
  assertTrajectoriesEqual(
    ours('sgd', nesterov, STEPS, undefined, cycledMomentum).traj,
    refSgd(nesterov, cycledMomentum),
    'sgd nesterov',
  );
  assertTrajectoriesEqual(
    ours('adam', BASE, STEPS, undefined, cycledMomentum).traj,
    refAdam(BASE, false, cycledMomentum),
    'adam',
  );
  assertTrajectoriesEqual(
    ours('adamw', { ...BASE, weightDecay: 0.1 }, STEPS, undefined, cycledMomentum).traj,
    refAdam({ ...BASE, weightDecay: 0.1 }, true, cycledMomentum),
    'adamw',
  );
  const rms = { ...BASE, momentum: 0.5 };
  assertTrajectoriesEqual(
    ours('rmsprop', rms, STEPS, undefined, cycledMomentum).traj,
    refRmsprop(rms, cycledMomentum),
    'rmsprop',
  );
  // And it changes something: the fixed momentum gives another trajectory.
  assert.notDeepEqual(ours('sgd', sgd).p, ours('sgd', sgd, STEPS, undefined, cycledMomentum).p);
});

test('plain SGD on a quadratic matches the closed form p_t = c + (1 - lr a)^t (p_0 - c)', () => {
  const opt = createOptimizer('sgd', N, BASE);
  const p = Float32Array.from(P0);
  const lr = 0.1;
  for (let t = 0; t < 10; t++) opt.step(p, Float32Array.from(grad(p)), lr);
  for (let i = 0; i < N; i++) {
    const want = C[i]! + (1 - lr * A[i]!) ** 10 * (P0[i]! - C[i]!);
    assert.ok(Math.abs(p[i]! - want) < 1e-5, `param ${i}: ${p[i]} vs ${want}`);
  }
});

test("Adam's first step moves every parameter by lr * g / (|g| + eps), whatever the gradient's scale", () => {
  const opt = createOptimizer('adam', 3, BASE);
  const p = new Float32Array([1, 1, 1]);
  const g = new Float32Array([1000, -0.001, 3]);
  opt.step(p, g, 0.01);
  assert.deepEqual(
    Array.from(p).map((v) => Math.round((1 - v) * 1e6) / 1e6),
    [0.01, -0.01, 0.01],
  );
});

test('AdamW decays weights even where the gradient is zero; Adam with L2 decays them through the moments', () => {
  const w = createOptimizer('adamw', 1, { ...BASE, weightDecay: 0.5 });
  const pw = new Float32Array([2]);
  w.step(pw, new Float32Array([0]), 0.1);
  // p * (1 - lr*wd), then a zero Adam update.
  assert.ok(Math.abs(pw[0]! - 2 * (1 - 0.05)) < 1e-7, `adamw gave ${pw[0]}`);
  const a = createOptimizer('adam', 1, { ...BASE, weightDecay: 0.5 });
  const pa = new Float32Array([2]);
  a.step(pa, new Float32Array([0]), 0.1);
  // The L2 term becomes the gradient (wd*p = 1), so the first Adam step is a full lr.
  assert.ok(Math.abs(pa[0]! - (2 - 0.1)) < 1e-6, `adam gave ${pa[0]}`);
});

test('loading state of another optimizer or size is refused with what was expected', () => {
  const sgd = createOptimizer('sgd', 4, { ...BASE, momentum: 0.9 });
  assert.throws(
    () => sgd.load(createOptimizer('adam', 4, BASE).state()),
    /optimizer state is for 'adam' but the job uses 'sgd'/,
  );
  assert.throws(
    () => sgd.load(createOptimizer('sgd', 5, { ...BASE, momentum: 0.9 }).state()),
    /slot 'momentum' has 5 values, expected 4/,
  );
  assert.throws(() => createOptimizer('sgd', 4, { ...BASE, nesterov: true }), /nesterov needs train.momentum > 0/);
});

test('the native optimizer updates give the same bits as the JS loops (replicas with and without the addon agree)', () => {
  setNativeKernels(true);
  assert.ok(nativeUpdates() !== undefined, `the native addon is not in use: ${kernelSet().why}`);
  // Sizes that leave remainders after every vector width; values over many magnitudes.
  const size = 1037;
  let seed = 12345;
  const rand = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
  const cases: [OptimizerName, Partial<OptimizerOptions>][] = [
    ['sgd', {}],
    ['sgd', { weightDecay: 0.01 }],
    ['sgd', { momentum: 0.9 }],
    ['sgd', { momentum: 0.9, nesterov: true, weightDecay: 5e-4 }],
    ['adam', {}],
    ['adam', { weightDecay: 0.01 }],
    ['adamw', { weightDecay: 0.05 }],
    ['rmsprop', {}],
    ['rmsprop', { momentum: 0.9, weightDecay: 1e-3 }],
  ];
  for (const [name, extra] of cases) {
    const start = Float32Array.from({ length: size }, () => rand() * 10 ** Math.floor(4 * rand()));
    const grads = Array.from({ length: 12 }, () =>
      Float32Array.from({ length: size }, () => rand() * 10 ** Math.floor(6 * rand())),
    );
    const run = (native: boolean): { p: Float32Array; slots: Record<string, Float32Array> } => {
      setNativeKernels(native);
      try {
        const opt = createOptimizer(name, size, { ...BASE, ...extra });
        const p = start.slice();
        grads.forEach((g, t) => opt.step(p, g, 0.01 * (1 + t / 7)));
        return { p, slots: opt.state().slots };
      } finally {
        setNativeKernels(true);
      }
    };
    const js = run(false);
    const native = run(true);
    const what = `${name} ${JSON.stringify(extra)}`;
    assert.ok(
      js.p.some((v, i) => v !== start[i]),
      `${what}: the parameters did not move`,
    );
    assert.deepEqual(native.p, js.p, `${what}: parameters differ`);
    assert.deepEqual(native.slots, js.slots, `${what}: optimizer state differs`);
  }
});

test('parameters exempt from weight decay (noDecay ranges) update as with weightDecay 0 and the rest as with it, on native and JS loops alike, as torch param groups do', () => {
  const exempt: [number, number][] = [
    [2, 5],
    [6, 7],
  ];
  const inside = (i: number): boolean => exempt.some(([a, b]) => i >= a && i < b);
  const cases: [OptimizerName, OptimizerOptions][] = [
    ['sgd', { ...BASE, momentum: 0.9, weightDecay: 0.3 }],
    ['sgd', { ...BASE, momentum: 0.9, nesterov: true, weightDecay: 0.3 }],
    ['adam', { ...BASE, weightDecay: 0.3 }],
    ['adamw', { ...BASE, weightDecay: 0.3 }],
    ['rmsprop', { ...BASE, momentum: 0.5, weightDecay: 0.3 }],
  ];
  for (const native of [true, false]) {
    setNativeKernels(native);
    for (const [name, o] of cases) {
      const run = (opts: OptimizerOptions): Float32Array => {
        const opt = createOptimizer(name, N, opts);
        const p = Float32Array.from(P0);
        for (let t = 0; t < 12; t++) opt.step(p, Float32Array.from(grad(p)), lrAt(t));
        return p;
      };
      const mixed = run({ ...o, noDecay: exempt });
      const decayed = run(o);
      const plain = run({ ...o, weightDecay: 0 });
      for (let i = 0; i < N; i++) {
        const want = inside(i) ? plain[i] : decayed[i];
        assert.equal(
          mixed[i],
          want,
          `${name}${native ? ' native' : ''}: param ${i} (${inside(i) ? 'exempt' : 'decayed'})`,
        );
      }
      assert.notDeepEqual(Array.from(mixed), Array.from(decayed), `${name}: the exemption changed nothing`);
    }
  }
  setNativeKernels(true);
});

test('with decayBiasAndNorm off, the one-dimensional parameters (biases, norm scales) are the ones exempt', () => {
  const slots = [
    { offset: 0, size: 12, shape: [4, 3] },
    { offset: 12, size: 3, shape: [3] },
    { offset: 15, size: 6, shape: [3, 2] },
    { offset: 21, size: 2, shape: [2] },
    { offset: 23, size: 1, shape: [] },
  ];
  assert.deepEqual(noDecayRanges({ decayBiasAndNorm: false }, slots), [
    [12, 15],
    [21, 23],
    [23, 24],
  ]);
  assert.deepEqual(noDecayRanges({ decayBiasAndNorm: true }, slots), []);
});
