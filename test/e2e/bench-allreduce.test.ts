import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { runCli } from './cli';

test('ringtrain bench allreduce prints an nccl-tests table per transport, every size checked ok', async () => {
  const r = await runCli(
    [
      'bench',
      'allreduce',
      '--nproc',
      '2',
      '--bytes',
      '4K,400K',
      '--iters',
      '5',
      '--transport',
      'grpc,tcp,tcp+shm',
      '--no-peer',
    ],
    { timeoutMs: 120_000 },
  );
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const headings = r.stdout.split('\n').filter((l) => l.startsWith('all-reduce ('));
  assert.deepEqual(
    headings.map((l) => /transport (\S+),/.exec(l)?.[1]),
    ['grpc', 'tcp', 'tcp+shm'],
  );
  const rows = r.stdout
    .split('\n')
    .filter((l) => /^\|\s+\d+ \|/.test(l))
    .map((l) =>
      l
        .split('|')
        .map((c) => c.trim())
        .filter((c) => c !== ''),
    );
  assert.equal(rows.length, 6, r.stdout);
  for (const [bytes, ms, alg, bus, check] of rows) {
    assert.ok(bytes === '4000' || bytes === '400000', bytes);
    // algbw is bytes / time; both are printed to 3 decimals, so the true time lies within 0.0005 ms of the printed one.
    const [lo, hi] = [
      Number(bytes) / ((Number(ms) + 0.0005) * 1e6),
      Number(bytes) / (Math.max(Number(ms) - 0.0005, 1e-9) * 1e6),
    ];
    assert.ok(
      Number(ms) > 0 && Number(alg) >= lo - 0.0005 && Number(alg) <= hi + 0.0005,
      `${bytes} B in ${ms} ms printed as ${alg} GB/s`,
    );
    // Two ranks: busbw = algbw x 2(N-1)/N = algbw.
    assert.equal(bus, alg);
    assert.equal(check, 'ok');
  }
  // The tcp+shm ranks found each other's segments: no fallback note on stderr.
  assert.doesNotMatch(r.stderr, /go over TCP/);
});

test('ringtrain bench allreduce refuses a bad transport, size or rank count with exit 2 and says what to use', async () => {
  for (const [args, message] of [
    [['--transport', 'udp'], /unknown transport 'udp': use grpc, tcp, tcp\+shm/],
    [['--bytes', '4Q'], /bad size '4Q': use e\.g\. 4K, 400K, 4M/],
    [['--nproc', '1'], /--nproc must be an integer from 2 to 64, got '1'/],
    // A misspelt flag used to be ignored, and the default benchmark ran for minutes.
    [
      ['--byte', '4K'],
      /unknown option --byte \(did you mean --bytes\?\); this command takes --nproc, --bytes, .*\nusage: ringtrain bench allreduce/,
    ],
    [['--bytes'], /--bytes needs a value/],
    [['--algorithm', 'tree'], /--algorithm takes auto or ring, got 'tree'/],
  ] as const) {
    const r = await runCli(['bench', 'allreduce', ...args, '--no-peer'], { timeoutMs: 30_000 });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('ringtrain bench --help prints usage and runs nothing; bench train refuses arguments it does not take', async () => {
  const help = await runCli(['bench', 'allreduce', '--help'], { timeoutMs: 30_000 });
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^usage: ringtrain bench allreduce .*--transport grpc,tcp,tcp\+shm/s);
  assert.doesNotMatch(help.stdout, /^\| +bytes \|/m, 'no benchmark table: nothing ran');
  const train = await runCli(['bench', 'train', '--nproc', '2'], { timeoutMs: 30_000 });
  assert.equal(train.code, 2);
  assert.match(
    train.stderr,
    /takes no arguments, got '--nproc 2'\nusage: ringtrain bench train.*BENCH_MODEL=mlp\|cnn/s,
  );
});
