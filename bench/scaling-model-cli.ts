/**
 * `ringtrain bench model`: the scaling model's projections (scaling-model.ts) from a calibration
 * file; `--calibrate` measures one in simulated hosts (one worker per model, then the MLP over
 * 2 and 3 hosts at two link rates, to fit the link's alpha and wire factor).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { project, fitLink, type LinkCalibration, type MeasuredStep, type ModelCalibration } from './scaling-model';
import { addFloats } from '../src/core/simd-floats';
import { netnsRefusal, withHosts, type SimHosts } from './sim-hosts';
import { BenchOutput } from './bench-output';
import { launchAcross, oneWorkerIn, steadySamplesPerSec, trainableParams } from './hosts-run';

export const DEFAULT_CALIBRATION = path.resolve(__dirname, '../../bench/scaling-calibration.json');
const NODES = [2, 3, 4, 8, 16, 32, 64, 128, 256];
const RATES_GBIT = [10, 25, 100];
const BATCH = 64;
/** The 1:2 forward:backward split usually assumed (backward computes two products per layer). */
const BACKWARD_SHARE = 2 / 3;
const RUN_DEADLINE_MS = 900_000;

export interface Calibration {
  measured: string;
  link: LinkCalibration;
  models: ModelCalibration[];
}

const USAGE = `usage: ringtrain bench model [--calibration FILE] [--models mlp,cnn,resnet] [--alpha-us A]
       ringtrain bench model --calibrate [--out FILE]
Projects samples/s and scaling efficiency for 2..256 nodes at 10, 25 and 100 Gbit/s from the
alpha-beta ring model and a calibration (default: the one measured in simulated hosts and
shipped with ringtrain), at the bucket size the model finds best, for today's step (all
gradients, then the all-reduce) and for one that overlaps the all-reduce with backward.
--alpha-us replaces the calibration's per-message latency (what a quieter machine measures).
--calibrate measures a new calibration in network namespaces (root; a few minutes).
`;

function kib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${Math.round(bytes / 1024)} KiB`;
}

export function projectionTable(c: Calibration, model: ModelCalibration, overlap: boolean): string {
  const head = `| nodes | ${RATES_GBIT.map((r) => `${r} Gbit/s: samples/s, efficiency, bucket`).join(' | ')} |\n| ---: | ${RATES_GBIT.map(() => '---').join(' | ')} |\n`;
  const rows = NODES.map((n) => {
    const cells = RATES_GBIT.map((r) => {
      const p = project(model, n, r * 1e9, c.link, overlap);
      return `${p.samplesPerSec.toFixed(0)}, ${(100 * p.efficiency).toFixed(0)}%, ${kib(p.bucketBytes)}`;
    });
    return `| ${n} | ${cells.join(' | ')} |\n`;
  });
  return head + rows.join('');
}

/** A run's seconds per step from its whole-job samples/s. */
const stepOf = (outDir: string, world: number, warmup: number): number =>
  (world * BATCH) / steadySamplesPerSec(outDir, warmup);

/** Float32 bytes per second the ring's own reduction kernel sums (addFloats: WebAssembly SIMD where it runs). */
function reductionSpeed(): number {
  const a = new Float32Array(1 << 18).fill(1);
  const b = new Float32Array(1 << 18).fill(2);
  addFloats(a, b);
  const t0 = process.hrtime.bigint();
  for (let rep = 0; rep < 200; rep++) addFloats(a, b);
  return (200 * a.length * 4) / (Number(process.hrtime.bigint() - t0) / 1e9);
}

const mlpSet = (perWorkerSteps: number, workers: number, epochs: number): string[] => [
  'model.kind=mlp',
  `data.trainLimit=${perWorkerSteps * BATCH * workers}`,
  `train.epochs=${epochs}`,
  'data.testLimit=100',
];

/** The first `n` hosts of a set, as a set of its own (same namespaces). */
export const firstHosts = (h: SimHosts, n: number): SimHosts => ({ ...h, hosts: h.hosts.slice(0, n) });

/**
 * The MLP on `n` hosts and, for the compute it is up against, `n` one-worker jobs at once, one
 * per host: simulated hosts share this machine's CPUs, so a worker's compute next to n - 1 busy
 * ones is what each rank of the n-host job gets, not a worker's alone.
 */
export async function measureMlp(
  h: SimHosts,
  n: number,
  rateMbit: number,
  base: string,
  epochs = 6,
  warmup = 3,
): Promise<MeasuredStep> {
  const sub = firstHosts(h, n);
  const dirs = await Promise.all(
    sub.hosts.map((_, i) =>
      oneWorkerIn(
        { ...sub, spawnIn: (_j, cmd, args, env) => sub.spawnIn(i, cmd, args, env) },
        mlpSet(60, 1, epochs),
        path.join(base, `alone-${n}-${i}`),
        RUN_DEADLINE_MS,
      ),
    ),
  );
  const oneWorkerStepSec = dirs.reduce((s, d) => s + stepOf(d, 1, warmup), 0) / dirs.length;
  const run = await launchAcross(
    sub,
    1,
    mlpSet(60, n, epochs),
    path.join(base, `mlp-${n}-${rateMbit}`),
    RUN_DEADLINE_MS,
  );
  const gradientBytes = 4 * trainableParams(run.outDir);
  return {
    nodes: n,
    linkBitsPerSec: rateMbit * 1e6,
    gradientBytes,
    stepSec: stepOf(run.outDir, n, warmup),
    oneWorkerStepSec,
  };
}

async function calibrate(out: string): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-model-'));
  try {
    const reduceBytesPerSec = reductionSpeed();
    const models: ModelCalibration[] = [];
    const fits: MeasuredStep[] = [];
    for (const rate of [100, 1000]) {
      await withHosts(3, rate, async (h) => {
        for (const note of h.notes) process.stdout.write(`(note: ${note})\n`);
        if (models.length === 0) {
          // Alone in a host: a real machine's compute, which the projections stand on.
          for (const [name, steps, epochs] of [
            ['mlp', 150, 8],
            ['cnn', 12, 3],
            ['resnet', 3, 3],
          ] as const) {
            const dir = await oneWorkerIn(
              h,
              [
                `model.kind=${name}`,
                `data.trainLimit=${steps * BATCH}`,
                `train.epochs=${epochs}`,
                'data.testLimit=100',
              ],
              path.join(base, `one-${name}`),
              RUN_DEADLINE_MS,
            );
            models.push({
              name,
              gradientBytes: 4 * trainableParams(dir),
              stepSec: stepOf(dir, 1, epochs / 2),
              batch: BATCH,
              backwardShare: BACKWARD_SHARE,
            });
            process.stdout.write(
              `${name}: one worker ${((models.at(-1) as ModelCalibration).stepSec * 1000).toFixed(2)} ms/step\n`,
            );
          }
        }
        for (const n of [2, 3]) {
          const m = await measureMlp(h, n, rate, base);
          fits.push(m);
          process.stdout.write(
            `mlp: ${n} hosts at ${rate} Mbit/s ${(m.stepSec * 1000).toFixed(2)} ms/step against ${(m.oneWorkerStepSec * 1000).toFixed(2)} for one worker of ${n} at once\n`,
          );
        }
      });
    }
    const c: Calibration = {
      measured: `${new Date().toISOString()} on ${os.hostname()} (${os.cpus().length} CPUs), ringtrain bench model --calibrate`,
      link: fitLink(fits, reduceBytesPerSec),
      models,
    };
    fs.writeFileSync(out, `${JSON.stringify(c, null, 2)}\n`);
    process.stdout.write(
      `link: alpha ${(c.link.alphaSec * 1e6).toFixed(0)} us, wire x${c.link.wire.toFixed(3)}, reduction ${(reduceBytesPerSec / 1e9).toFixed(2)} GB/s; written to ${out}\n`,
    );
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

export function readCalibration(file: string): Calibration {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Calibration;
  } catch (e) {
    throw new Error(
      `cannot read the calibration ${file}: ${(e as Error).message}; make one with ringtrain bench model --calibrate --out ${file}`,
    );
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const flag = (name: string): string | undefined => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const known = new Set([
    '--calibrate',
    '--out',
    '--calibration',
    '--models',
    '--alpha-us',
    flag('--out'),
    flag('--calibration'),
    flag('--models'),
    flag('--alpha-us'),
  ]);
  const unknown = argv.filter((a) => !known.has(a));
  if (argv.includes('--help') || argv.includes('-h') || unknown.length > 0) {
    if (unknown.length > 0) process.exitCode = 2;
    return void (unknown.length > 0 ? process.stderr : process.stdout).write(
      `${unknown.length > 0 ? `ringtrain bench model: unknown argument '${unknown[0]}'\n` : ''}${USAGE}`,
    );
  }
  if (argv.includes('--calibrate')) {
    const refused = netnsRefusal();
    if (refused !== undefined) throw new Error(`--calibrate needs network namespaces: ${refused}`);
    return calibrate(flag('--out') ?? DEFAULT_CALIBRATION);
  }
  const c = readCalibration(flag('--calibration') ?? DEFAULT_CALIBRATION);
  const alphaUs = flag('--alpha-us');
  if (alphaUs !== undefined) {
    if (!(Number(alphaUs) >= 0)) throw new Error(`--alpha-us must be a number of microseconds >= 0, got '${alphaUs}'`);
    c.link.alphaSec = Number(alphaUs) / 1e6;
  }
  const wanted = (flag('--models') ?? 'mlp,cnn,resnet').split(',');
  const out = new BenchOutput('scaling-model', `ringtrain bench model${argv.length > 0 ? ` ${argv.join(' ')}` : ''}`);
  out.write(
    `calibration: ${c.measured}; alpha ${(c.link.alphaSec * 1e6).toFixed(0)} us per message, wire x${c.link.wire.toFixed(3)}, reduction ${(c.link.reduceBytesPerSec / 1e9).toFixed(2)} GB/s\n`,
  );
  for (const m of c.models.filter((x) => wanted.includes(x.name))) {
    out.write(
      `\n${m.name}: ${kib(m.gradientBytes)} of gradients, one worker ${(m.stepSec * 1000).toFixed(2)} ms per step of ${m.batch}\n`,
    );
    out.write(`\ntoday's step (backward, then the all-reduce):\n${projectionTable(c, m, false)}`);
    out.write(
      `\nall-reduce overlapped with backward (${(100 * m.backwardShare).toFixed(0)}% of the step):\n${projectionTable(c, m, true)}`,
    );
  }
  const saved = out.save();
  if (saved !== undefined) process.stdout.write(`saved ${saved}\n`);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`ringtrain bench model: ${(e as Error).message}\n`);
    process.exitCode = 1;
  });
}
