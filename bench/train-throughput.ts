/**
 * `npm run bench`: training throughput of the default job (MNIST MLP, batch 64 per worker) for
 * `--nproc 1` and `--nproc 2` through the real launcher, the all-reduce time for the model's
 * gradient size, and, where /usr/bin/python3 has torch, the PyTorch peer (single process and
 * DDP gloo 2 x 1 thread) measured in the same run, printed as ratios; and two independent
 * `--nproc 1` jobs side by side, the ceiling this machine puts on scaling before any all-reduce.
 */
import { formatTable, runRing } from './allreduce';
import { BenchOutput } from './bench-output';
import { pairFloorMs } from './pair-floor';
import {
  TORCH_STEP,
  blasAllowsRatio,
  launchRun,
  median,
  torchBlas,
  torchPeer,
  type RunResult,
  type StepSplit,
} from './launch-run';

/** Bytes of each built-in model's gradient (trainable parameters x 4; the model summaries print them). */
const GRADIENT_BYTES: Record<string, number> = { mlp: 101_770 * 4, cnn: 225_034 * 4 };
/** BENCH_MODEL=cnn measures the CNN instead. */
const MODEL = process.env.BENCH_MODEL ?? 'mlp';
/**
 * Epochs per run, and how many of them are warm-up: V8 keeps compiling the loop's JavaScript for
 * a few thousand steps, more so with every core busy (two workers on two cores). The MLP's short
 * steps get ten warm-up epochs, the CNN's long ones one. BENCH_EPOCHS=48 BENCH_WARMUP=36 measures
 * a later steady state.
 */
const EPOCHS = Number(process.env.BENCH_EPOCHS ?? (MODEL === 'mlp' ? 16 : 4));
const WARMUP = Number(process.env.BENCH_WARMUP ?? (MODEL === 'mlp' ? 10 : 1));

const GRPC_LABEL = '--nproc 2, grpc (default; shared file)';
const TCP_LABEL = '--nproc 2, tcp (shared file)';
const WIRE_LABEL = '--nproc 2, grpc, sharedMemoryMb=0 (messages)';

const ringtrain = (nproc: number, steps: number, transport = 'grpc', extra: string[] = []): Promise<RunResult> =>
  launchRun({ nproc, steps, epochs: EPOCHS, warmup: WARMUP, model: MODEL, transport, extra });

const USAGE = `usage: ringtrain bench train   (npm run bench)
Training samples/s of the built-in job for --nproc 1 and 2 (grpc and tcp, both summing through
a shared file as two ranks on one host do, and grpc with messages only) and of two --nproc 1
jobs side by side (the machine's ceiling for scaling), interleaved, against
PyTorch single-process and DDP gloo when /usr/bin/python3 has torch. Settings come from the
environment: BENCH_MODEL=mlp|cnn, BENCH_STEPS (one worker's batches per epoch), BENCH_REPEATS (5),
BENCH_EPOCHS and BENCH_WARMUP (epochs per run and how many of them are warm-up; mlp 16/10, cnn 4/1).
`;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  const badEpochs = !Number.isInteger(EPOCHS) || !Number.isInteger(WARMUP) || WARMUP < 1 || WARMUP >= EPOCHS;
  if (argv.length > 0 || !['mlp', 'cnn'].includes(MODEL) || badEpochs) {
    const why =
      argv.length > 0
        ? `takes no arguments, got '${argv.join(' ')}'`
        : badEpochs
          ? `BENCH_WARMUP must be an integer from 1 to BENCH_EPOCHS - 1, got ${WARMUP} of ${EPOCHS}`
          : `BENCH_MODEL must be mlp or cnn, got '${MODEL}'`;
    process.stderr.write(`ringtrain bench train: ${why}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const out = new BenchOutput(`train-${MODEL}`, `${MODEL === 'mlp' ? '' : `BENCH_MODEL=${MODEL} `}npm run bench`);
  const blas = torchBlas();
  const withPeer = blasAllowsRatio(blas, 'ringtrain bench train');
  if (process.exitCode === 2) return;
  // Global batches per epoch: the same data (and so the same work) for 1 and 2 workers.
  const steps = Number(process.env.BENCH_STEPS ?? (MODEL === 'mlp' ? 400 : 60));
  // Five rounds: this VM's rounds of one run spread by 5-10 points of scaling, and the median of
  // three moved by 5 between runs of one commit.
  const repeats = Number(process.env.BENCH_REPEATS ?? 5);
  // Interleaved (1, grpc, tcp, 1, grpc, tcp, ...): this VM's speed drifts by tens of percent over
  // minutes, and runs taken back to back per configuration put that drift into the ratios.
  // `apart`: two independent one-worker jobs at once, with no communication between them. Their
  // sum over twice one job alone is what this machine allows a two-worker job before any
  // all-reduce (two busy processes slow each other here), the ceiling of its scaling efficiency.
  // `wire`: gRPC with no shared memory, so every all-reduce goes as messages, as between hosts.
  const runs = {
    one: [] as RunResult[],
    grpc: [] as RunResult[],
    tcp: [] as RunResult[],
    wire: [] as RunResult[],
    apart: [] as number[],
  };
  const measured = steps * (EPOCHS - WARMUP);
  // The PyTorch peers take their turn in every round too, so their figures drift with the rest.
  const torch = { one: [] as number[], ddp: [] as number[] };
  for (let r = 0; r < repeats; r++) {
    if (withPeer) {
      const t1 = torchPeer(TORCH_STEP, [
        '--model',
        MODEL,
        '--threads',
        '1',
        '--steps',
        String(measured),
      ])?.samplesPerSec;
      const t2 = torchPeer('torch_ddp.py', ['--model', MODEL, '--steps', String(measured / 2)])?.aggSamplesPerSec;
      if (typeof t1 === 'number') torch.one.push(t1);
      if (typeof t2 === 'number') torch.ddp.push(t2);
    }
    runs.one.push(await ringtrain(1, steps));
    runs.grpc.push(await ringtrain(2, steps, 'grpc'));
    runs.tcp.push(await ringtrain(2, steps, 'tcp'));
    runs.wire.push(await ringtrain(2, steps, 'grpc', ['cluster.sharedMemoryMb=0']));
    const both = await Promise.all([ringtrain(1, steps), ringtrain(1, steps)]);
    runs.apart.push(both[0].samplesPerSec + both[1].samplesPerSec);
  }
  const rate = (rs: RunResult[]): number => median(rs.map((x) => x.samplesPerSec));
  const early = (rs: RunResult[]): string => (WARMUP > 1 ? median(rs.map((x) => x.warmingUp)).toFixed(0) : '-');
  const one = rate(runs.one);
  const grpc2 = rate(runs.grpc);
  const tcp2 = rate(runs.tcp);
  const wire2 = rate(runs.wire);
  const apart = median(runs.apart);
  const t1 = torch.one.length > 0 ? median(torch.one) : undefined;
  const t2 = torch.ddp.length > 0 ? median(torch.ddp) : undefined;
  const ratio = (a: number, b: number | undefined): string => (b === undefined ? '-' : `${(a / b).toFixed(2)}x`);
  const scaling = (a: number, b: number): string => `${((100 * a) / (2 * b)).toFixed(0)}%`;
  // One decimal: the rounds are judged against a 90% line, and a whole percent hides which side.
  const percent = (x: number): string => `${(100 * x).toFixed(1)}%`;
  // Per round: grpc, tcp, grpc messages and the two independent jobs, each over twice that round's one-worker run.
  const perRound = runs.one.map((o, r) =>
    [
      (runs.grpc[r] as RunResult).samplesPerSec,
      (runs.tcp[r] as RunResult).samplesPerSec,
      (runs.wire[r] as RunResult).samplesPerSec,
      runs.apart[r] as number,
    ].map((x) => x / (2 * o.samplesPerSec)),
  );
  const earlyScaling =
    WARMUP > 1
      ? [runs.grpc, runs.tcp, runs.wire].map((rs) => scaling(Number(early(rs)), Number(early(runs.one)))).join(' / ')
      : '-';
  const rows: string[][] = [
    ['--nproc 1', one.toFixed(0), early(runs.one), t1?.toFixed(0) ?? '-', ratio(one, t1)],
    // Both workers on this host: either transport sums through one shared file.
    [GRPC_LABEL, grpc2.toFixed(0), early(runs.grpc), t2?.toFixed(0) ?? '-', ratio(grpc2, t2)],
    [TCP_LABEL, tcp2.toFixed(0), early(runs.tcp), t2?.toFixed(0) ?? '-', ratio(tcp2, t2)],
    [WIRE_LABEL, wire2.toFixed(0), early(runs.wire), t2?.toFixed(0) ?? '-', ratio(wire2, t2)],
    ['2 independent --nproc 1 jobs at once (sum; no communication)', apart.toFixed(0), '', '', ''],
    ['ceiling: that sum / (2 x --nproc 1)', scaling(apart, one), '', '', ''],
    [
      'scaling efficiency 2 vs 1 (grpc / tcp / grpc messages)',
      [grpc2, tcp2, wire2].map((x) => scaling(x, one)).join(' / '),
      earlyScaling,
      t1 && t2 ? scaling(t2, t1) : '-',
      '',
    ],
    // Each round against its own one-worker run: how far the VM's drift moves the figures. Runs
    // of one round are minutes apart, not tens of minutes, so their median drifts less than the
    // ratio of the medians above.
    [
      'each round: grpc / tcp / grpc messages / ceiling',
      perRound.map((r) => r.map(percent).join(' / ')).join(', '),
      '',
      '',
      '',
    ],
    [
      'median of the rounds: grpc / tcp / grpc messages / ceiling',
      [0, 1, 2, 3].map((i) => percent(median(perRound.map((r) => r[i] as number)))).join(' / '),
      '',
      '',
      '',
    ],
  ];
  out.write(
    `MNIST ${MODEL}, batch 64 per worker, ${EPOCHS} epochs of ${steps} one-worker batches (the same data for 1 and 2 workers), the first ${WARMUP} as warm-up, median of ${repeats} interleaved runs (samples/s of the whole job; PyTorch on ${blas?.kind ?? 'no'} BLAS (${blas?.files.find((f) => f.includes('libblas')) ?? '-'}): ${measured} steps after 20 warm-up steps)\n`,
  );
  const earlyLabel =
    WARMUP > 1
      ? `ringtrain, epochs 2-${WARMUP} (V8 still compiling)`
      : 'ringtrain, warm-up (epoch 1 only, not measured)';
  out.write(
    `| run | ringtrain samples/s | ${earlyLabel} | PyTorch samples/s (1 thread / DDP gloo 2x1) | ringtrain / PyTorch |\n| --- | ---: | ---: | ---: | ---: |\n`,
  );
  for (const r of rows) out.write(`| ${r.join(' | ')} |\n`);
  // Why scaling is what it is: the step's parts, from the runs' own timing records.
  out.write(
    `\nwhere a step's time went (ms per step, mean over ranks, epochs ${WARMUP + 1}-${EPOCHS} of all ${repeats} runs; peer wait: ready but waiting for the slower rank)\n`,
  );
  out.write(
    '| run | data | compute | exchange | peer wait | update | total |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n',
  );
  for (const [name, rs] of [
    ['--nproc 1', runs.one],
    [GRPC_LABEL, runs.grpc],
    [TCP_LABEL, runs.tcp],
    [WIRE_LABEL, runs.wire],
  ] as const) {
    const mean = (pick: (s: StepSplit) => number): number => rs.reduce((a, x) => a + pick(x.split), 0) / rs.length;
    const parts = [
      mean((s) => s.data),
      mean((s) => s.compute),
      mean((s) => s.exchange),
      mean((s) => s.peerWait),
      mean((s) => s.update),
    ];
    out.write(`| ${name} | ${[...parts, parts.reduce((a, b) => a + b, 0)].map((x) => x.toFixed(3)).join(' | ')} |\n`);
  }
  const bytes = GRADIENT_BYTES[MODEL];
  if (bytes !== undefined) {
    const floorMs = await pairFloorMs(bytes / 4);
    out.write(
      `\ncrossing cores: one rank adding the peer's freshly written gradient (${bytes} bytes) from the other core (bench/pair-floor.ts), median: ${floorMs.toFixed(3)} ms (the shared-file pair reads half of it on each rank)\n`,
    );
  }
  for (const transport of bytes === undefined ? [] : (['grpc', 'tcp+shm'] as const)) {
    // 300 timed iterations, as `bench allreduce` and gloo take them: gRPC needs about a hundred
    // to warm up (a median of 50 came out at 1.9-2.7 ms where 300 gave 1.1).
    const ring = await runRing(2, [bytes as number], 300, transport);
    out.write(
      `\nall-reduce of the ${MODEL}'s gradient (${bytes} bytes), 2 processes, ${transport}, median of 300 after 20 warm-up\n`,
    );
    out.write(`${formatTable(2, ring)}\n`);
  }
  const saved = out.save();
  if (saved !== undefined) process.stdout.write(`written to ${saved}\n`);
}

void main();
