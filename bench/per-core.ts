/**
 * `npm run bench:core`: one worker against one PyTorch thread, per model, interleaved round by
 * round in the same run: samples/s of a real `ringtrain launch --nproc 1` job (steady-state
 * epochs) and of bench/torch_step.py (same model, batch, optimizer; after its warm-up steps),
 * their ratio, the GFLOP/s each reached (src/train/step-flops.ts counts a sample's FLOPs) and
 * that as a share of this core's fp32 FMA peak, measured first by the addon's own register-only
 * FMA loop (native/peak.cc). PyTorch must run on an optimized BLAS, or no ratio is printed.
 */
import { selectBackend } from '../src/compute';
import { DEFAULT_JOB } from '../src/config';
import { nativeFusedStep } from '../src/native';
import { FusedStep, ParamLayout, buildModel, trainingFlopsPerSample } from '../src/train';
import { BenchOutput } from './bench-output';
import { TORCH_STEP, blasAllowsRatio, launchRun, median, torchBlas, torchPeer, type RunResult } from './launch-run';

/** Per model: one worker's batches per epoch, epochs, and how many of them are warm-up. */
const PLANS: Record<string, { steps: number; epochs: number; warmup: number }> = {
  mlp: { steps: 400, epochs: 8, warmup: 3 },
  cnn: { steps: 60, epochs: 5, warmup: 1 },
  resnet: { steps: 16, epochs: 3, warmup: 1 },
};

const USAGE = `usage: ringtrain bench core   (npm run bench:core)
One ringtrain worker against one PyTorch thread on the built-in models, interleaved in one run:
samples/s, ratio, GFLOP/s and the share of this core's measured FMA peak. Settings from the
environment: BENCH_MODELS (mlp,cnn,resnet), BENCH_REPEATS (3).
`;

interface ModelFacts {
  flops: number;
  path: string;
}

async function factsOf(kind: string): Promise<ModelFacts> {
  await selectBackend('wasm');
  const model = buildModel({ ...DEFAULT_JOB.model, kind: kind as typeof DEFAULT_JOB.model.kind }, [784], 10, 1);
  const fused = FusedStep.of(model, ParamLayout.ofModel(model), {});
  const facts = {
    flops: trainingFlopsPerSample(model),
    path: fused.step !== undefined ? 'fused' : `tfjs (${fused.why ?? ''})`,
  };
  model.dispose();
  return facts;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  const models = (process.env.BENCH_MODELS ?? 'mlp,cnn,resnet').split(',');
  const repeats = Number(process.env.BENCH_REPEATS ?? 3);
  const unknown = models.filter((m) => PLANS[m] === undefined);
  if (argv.length > 0 || unknown.length > 0 || !Number.isInteger(repeats) || repeats < 1) {
    const why =
      argv.length > 0
        ? `takes no arguments, got '${argv.join(' ')}'`
        : unknown.length > 0
          ? `BENCH_MODELS has unknown models: ${unknown.join(', ')} (mlp, cnn, resnet)`
          : `BENCH_REPEATS must be a positive integer, got ${process.env.BENCH_REPEATS}`;
    process.stderr.write(`ringtrain bench core: ${why}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const out = new BenchOutput('per-core', 'npm run bench:core');
  // The BLAS first: a refusal should not wait for the peak probe.
  const blas = torchBlas();
  const withPeer = blasAllowsRatio(blas, 'ringtrain bench core');
  if (process.exitCode === 2) return;
  const native = nativeFusedStep();
  // The best of three 1-second probes: the least disturbed by whatever else runs here.
  const peak = native === undefined ? NaN : Math.max(native.peakGflops(1), native.peakGflops(1), native.peakGflops(1));
  out.write(
    `this core's fp32 FMA peak: ${peak.toFixed(1)} GFLOP/s (${native?.peakIsa ?? 'no addon'}, register-only FMA chains, best of 3 x 1 s)\n` +
      `PyTorch: ${blas?.kind ?? 'absent'} BLAS (${blas?.files.find((f) => f.includes('libblas')) ?? '-'}), 1 thread (torch and OpenBLAS pinned); batch 64, SGD lr 0.01 momentum 0.9; median of ${repeats} interleaved rounds\n\n`,
  );
  out.write(
    '| model | step | ringtrain samples/s | PyTorch samples/s | ringtrain / PyTorch | ringtrain GFLOP/s (% of peak) | PyTorch GFLOP/s (% of peak) | worker peak RSS |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n',
  );
  const flops: string[] = [];
  for (const kind of models) {
    const plan = PLANS[kind] as { steps: number; epochs: number; warmup: number };
    const facts = await factsOf(kind);
    flops.push(`${kind} ${(facts.flops / 1e6).toFixed(2)} MFLOP`);
    const ours: RunResult[] = [];
    const theirs: number[] = [];
    for (let r = 0; r < repeats; r++) {
      ours.push(await launchRun({ nproc: 1, model: kind, ...plan }));
      const t = withPeer
        ? torchPeer(TORCH_STEP, [
            '--model',
            kind,
            '--threads',
            '1',
            '--steps',
            String(plan.steps * (plan.epochs - plan.warmup)),
          ])?.samplesPerSec
        : undefined;
      if (typeof t === 'number') theirs.push(t);
    }
    const a = median(ours.map((o) => o.samplesPerSec));
    const b = theirs.length > 0 ? median(theirs) : undefined;
    const gflops = (s: number): string =>
      `${((s * facts.flops) / 1e9).toFixed(1)} (${((100 * s * facts.flops) / 1e9 / peak).toFixed(0)}%)`;
    const rss = median(ours.map((o) => o.peakRssMb ?? NaN));
    const cells = [
      kind,
      facts.path,
      a.toFixed(0),
      b?.toFixed(0) ?? '-',
      b === undefined ? '-' : `${(a / b).toFixed(2)}x`,
      gflops(a),
      b === undefined ? '-' : gflops(b),
      Number.isNaN(rss) ? '-' : `${rss.toFixed(0)} MB`,
    ];
    out.write(`| ${cells.join(' | ')} |\n`);
  }
  out.write(
    `\nFLOPs per sample: ${flops.join(', ')}, from src/train/step-flops.ts (2 per multiply-add of every dense and conv layer: forward, weight gradient, input gradient but the first layer's)\n`,
  );
  const saved = out.save();
  if (saved !== undefined) process.stdout.write(`written to ${saved}\n`);
}

void main();
