import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { runCli } from './cli';

test('ringtrain bench augment prints step and data time without augmentation, inline and off-thread, from one run', async () => {
  const r = await runCli(['bench', 'augment'], {
    timeoutMs: 120_000,
    env: { BENCH_STEPS: '4', BENCH_WARMUP: '2', BENCH_REPEATS: '1', BENCH_MODEL: 'mlp' },
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /on the mlp, batch 64, one rank; 4 steps after 2 warm-up, median of 1 interleaved rounds/);
  const rows = r.stdout
    .split('\n')
    .filter((l) => /^\| (no augmentation|augmentation)/.test(l))
    .map((l) =>
      l
        .split('|')
        .map((c) => c.trim())
        .filter((c) => c !== ''),
    );
  assert.deepEqual(
    rows.map((row) => row[0]),
    ['no augmentation', 'augmentation inline (threads 0)', 'augmentation off-thread (threads 1)'],
  );
  const base = Number(rows[0]![1]);
  for (const [, step, data, cost] of rows) {
    assert.ok(Number(step) > 0 && Number(data) >= 0 && Number(data) < Number(step), `step ${step} ms, data ${data} ms`);
    if (cost === '-') continue;
    // The bench computes the cost from unrounded times; recomputed from the printed ones (to
    // 0.0005 ms each), it may differ by what that rounding moves it, plus the cost's own 0.05.
    const s = Number(step);
    const slack = 100 * 0.0005 * (1 / s + base / (s * s)) + 0.05;
    const want = (100 * (s - base)) / s;
    assert.ok(
      Math.abs(Number(cost!.replace('%', '')) - want) <= slack + 1e-9,
      `cost ${cost} against ${want.toFixed(3)}% from the printed times (within ${slack.toFixed(3)})`,
    );
  }
});

test('ringtrain bench augment refuses arguments and bad settings with exit 2 and its usage', async () => {
  for (const [args, env] of [
    [['--steps', '4'], {}],
    [[], { BENCH_STEPS: '0' }],
    [[], { BENCH_MODEL: 'resnet' }],
  ] as const) {
    const r = await runCli(['bench', 'augment', ...args], { timeoutMs: 30_000, env });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /usage: ringtrain bench augment .*BENCH_MODEL=cnn\|mlp/);
  }
});
