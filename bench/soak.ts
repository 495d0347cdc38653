/**
 * Soak bench (not a test): a 3-worker elastic job trained under a chaos loop for --minutes
 * (default 10), then compared with the same job trained undisturbed.
 *
 *   node dist/bench/soak.js [--minutes 10] [--epochs 300] [--train-limit 20000] [--seed 1] [--every 4-12] [--keep-logs DIR]
 *
 * Every few seconds (--every MIN-MAX) the loop injects one fault at random: SIGKILL or SIGSTOP of
 * a worker or of the coordinator, 4 KiB of random bytes to every port of the job (coordinator
 * gRPC and metrics, each worker's ring and metrics port), or, as root, a full disk for 8 s (the
 * run directory lives on a tmpfs the bench mounts). A fault counts as survived when the job is
 * still running (or finished) at the next injection. A launch that fails is resumed with
 * `launch --resume`, as an operator would, and its fault is counted as not survived. After the
 * chaos the job runs to its end; the bench prints faults injected and survived, the final
 * validation accuracy against the undisturbed run's (pass: within 0.5 points) and what was left
 * behind (processes, shared-memory files, temporaries, locks, the mount), then removes it all.
 * Everything is bounded: the whole bench stops itself at 2 x minutes + 30 minutes. --keep-logs
 * copies the logs of each failed launch into DIR (the one thing it then leaves, on purpose).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { sendGarbage } from './proc-tools';
import { childPids, isAlive, jobPorts, targets, type FaultKind } from './soak-faults';

const BIN = path.resolve(__dirname, '../../bin/ringtrain.js');

interface Options {
  minutes: number;
  epochs: number;
  trainLimit: number;
  seed: number;
  every: [number, number];
  keepLogs: string;
}

function options(argv: string[]): Options {
  const get = (name: string, def: string): string => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] !== undefined ? (argv[i + 1] as string) : def;
  };
  const [lo, hi] = get('every', '4-12').split('-').map(Number);
  return {
    minutes: Number(get('minutes', '10')),
    epochs: Number(get('epochs', '300')),
    trainLimit: Number(get('train-limit', '20000')),
    seed: Number(get('seed', '1')),
    every: [lo ?? 4, hi ?? 12],
    keepLogs: get('keep-logs', ''),
  };
}

/** A small seeded generator (mulberry32), so a soak can be replayed with --seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Launch {
  child: ChildProcess;
  code: number | null | undefined;
  output: string;
  exited: Promise<void>;
}

function startLaunch(args: string[]): Launch {
  const child = spawn(process.execPath, [BIN, 'launch', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const l: Launch = { child, code: undefined, output: '', exited: Promise.resolve() };
  child.stdout?.on('data', (d: Buffer) => (l.output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (l.output += d.toString()));
  l.exited = new Promise((resolve) => child.on('close', (code) => ((l.code = code), resolve())));
  return l;
}

function finalVal(out: string): number {
  const lines = fs
    .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { split: string; accuracy: number });
  return lines.filter((l) => l.split === 'val').at(-1)?.accuracy ?? NaN;
}

const shmFiles = (): string[] =>
  fs.existsSync('/dev/shm') ? fs.readdirSync('/dev/shm').filter((f) => f.startsWith('ringtrain-')) : [];

async function main(): Promise<number> {
  const o = options(process.argv.slice(2));
  const random = rng(o.seed);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-soak-'));
  const disk = path.join(work, 'disk');
  fs.mkdirSync(disk);
  let mounted = false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256m', 'tmpfs', disk], { stdio: 'ignore' });
    mounted = true;
  } catch {
    process.stdout.write('soak: cannot mount a tmpfs (not root?): no disk-full faults\n');
  }
  const shmBefore = new Set(shmFiles());
  const seen = new Set<number>();
  const stopped = new Set<number>();
  const launches: Launch[] = [];
  const deadline = setTimeout(
    () => {
      process.stdout.write('soak: the bench ran past its bound; stopping everything\n');
      for (const l of launches) l.child.kill('SIGKILL');
    },
    (2 * o.minutes + 30) * 60_000,
  );
  const job = [
    '--nproc',
    '3',
    '--set',
    `train.epochs=${o.epochs}`,
    `data.trainLimit=${o.trainLimit}`,
    'data.testLimit=2000',
    `seed=${o.seed}`,
    'cluster.transport=tcp',
    ...ELASTIC,
  ];
  try {
    const calmOut = path.join(work, 'calm');
    process.stdout.write(`soak: undisturbed run (${o.epochs} epochs of ${o.trainLimit} samples, 3 workers)\n`);
    const calm = startLaunch([...job, '--out', calmOut]);
    launches.push(calm);
    await calm.exited;
    if (calm.code !== 0) throw new Error(`the undisturbed run failed:\n${calm.output.slice(-3000)}`);
    const calmAcc = finalVal(calmOut);
    const out = path.join(mounted ? disk : work, 'chaos');
    const report = await chaos(o, random, job, out, mounted ? disk : undefined, { launches, seen, stopped });
    const acc = finalVal(out);
    const delta = Math.abs(acc - calmAcc) * 100;
    process.stdout.write(
      `soak: chaos lasted ${report.minutes.toFixed(1)} min${report.minutes < o.minutes ? ' (the job ended first: raise --epochs)' : ''}\n`,
    );
    process.stdout.write('| fault | injected | survived |\n| --- | ---: | ---: |\n');
    for (const k of KINDS) process.stdout.write(`| ${k} | ${report.injected[k]} | ${report.survived[k]} |\n`);
    for (const f of report.failures) process.stdout.write(`soak: not survived: ${f}\n`);
    process.stdout.write(
      `soak: final val accuracy ${(100 * acc).toFixed(2)}% vs undisturbed ${(100 * calmAcc).toFixed(2)}%: ${delta.toFixed(2)} points apart (${delta <= 0.5 ? 'within' : 'NOT within'} 0.5)\n`,
    );
    return delta <= 0.5 && report.failures.length === 0 ? 0 : 1;
  } finally {
    clearTimeout(deadline);
    const left = await cleanUp({ launches, seen, stopped }, work, disk, mounted, shmBefore);
    process.stdout.write(`soak: leftovers: ${left.length === 0 ? 'none' : left.join('; ')}\n`);
  }
}

const ELASTIC = [
  'cluster.maxRestarts=100000',
  'cluster.minWorkers=2',
  'cluster.leaseTimeoutSec=4',
  'cluster.lastCallSec=1',
  'checkpoint.keep=2',
];
const KINDS: readonly FaultKind[] = [
  'kill-worker',
  'stop-worker',
  'kill-coordinator',
  'stop-coordinator',
  'garbage',
  'disk-full',
];

interface Tracking {
  launches: Launch[];
  /** Every coordinator and worker pid the bench saw, to prove none outlives it. */
  seen: Set<number>;
  /** Processes it SIGSTOPped: continued (or killed) at the end whatever happened. */
  stopped: Set<number>;
}

interface ChaosReport {
  minutes: number;
  injected: Record<FaultKind, number>;
  survived: Record<FaultKind, number>;
  failures: string[];
}

async function chaos(
  o: Options,
  random: () => number,
  job: string[],
  out: string,
  disk: string | undefined,
  t: Tracking,
): Promise<ChaosReport> {
  const zero = (): Record<FaultKind, number> =>
    Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  const r: ChaosReport = { minutes: 0, injected: zero(), survived: zero(), failures: [] };
  let launch = startLaunch([...job, '--out', out]);
  t.launches.push(launch);
  const started = Date.now();
  const end = started + o.minutes * 60_000;
  let last: FaultKind | undefined;
  const kinds = KINDS.filter((k) => k !== 'disk-full' || disk !== undefined);
  while (Date.now() < end) {
    await sleep(1000 * (o.every[0] + random() * (o.every[1] - o.every[0])));
    for (const { pid } of targets(launch.child.pid as number)) t.seen.add(pid);
    if (launch.code !== undefined) {
      if (launch.code === 0) break;
      r.failures.push(`${last ?? 'no fault'}: ${launch.output.trim().split('\n').at(-1) ?? ''}`);
      if (o.keepLogs !== '')
        fs.cpSync(path.join(out, 'logs'), path.join(o.keepLogs, `failure-${r.failures.length}`), { recursive: true });
      // Resumed as an operator would (started afresh when no checkpoint was written yet), so the soak goes on.
      const ckpts = path.join(out, 'checkpoints');
      const resumable = fs.existsSync(ckpts) && fs.readdirSync(ckpts).some((n) => /^ckpt-\d+$/.test(n));
      launch = startLaunch(resumable ? ['--resume', out, '--nproc', '3', '--set', ...ELASTIC] : [...job, '--out', out]);
      t.launches.push(launch);
      last = undefined;
      continue;
    }
    if (last !== undefined) r.survived[last] += 1;
    last = kinds[Math.floor(random() * kinds.length)] as FaultKind;
    r.injected[last] += 1;
    await inject(last, launch, out, disk, random, t);
  }
  r.minutes = (Date.now() - started) / 60_000;
  await launch.exited;
  if (last !== undefined && launch.code === 0) r.survived[last] += 1;
  else if (last !== undefined) r.failures.push(`${last}: ${launch.output.trim().split('\n').at(-1) ?? ''}`);
  return r;
}

async function inject(
  kind: FaultKind,
  launch: Launch,
  out: string,
  disk: string | undefined,
  random: () => number,
  t: Tracking,
): Promise<void> {
  const all = targets(launch.child.pid as number);
  const pick = (role: 'coordinator' | 'worker'): number | undefined => {
    const c = all.filter((x) => x.role === role);
    return c[Math.floor(random() * c.length)]?.pid;
  };
  const signal = (pid: number | undefined, sig: NodeJS.Signals): void => {
    if (pid === undefined) return;
    if (sig === 'SIGSTOP') {
      t.stopped.add(pid);
      // Bounded: a stopped process the job did not replace within 30 s is let go again.
      setTimeout(() => isAlive(pid) && process.kill(pid, 'SIGCONT'), 30_000).unref();
    }
    try {
      process.kill(pid, sig);
    } catch {
      // It ended meanwhile.
    }
  };
  if (kind === 'kill-worker') signal(pick('worker'), 'SIGKILL');
  else if (kind === 'stop-worker') signal(pick('worker'), 'SIGSTOP');
  else if (kind === 'kill-coordinator') signal(pick('coordinator'), 'SIGKILL');
  else if (kind === 'stop-coordinator') signal(pick('coordinator'), 'SIGSTOP');
  else if (kind === 'garbage') await Promise.all(jobPorts(out).map((p) => sendGarbage(p, randomBytes(4096))));
  else if (kind === 'disk-full' && disk !== undefined) {
    const filler = path.join(disk, 'filler');
    fillUp(filler);
    await sleep(8000);
    fs.rmSync(filler, { force: true });
  }
}

/** Writes `file` until the disk is full: big chunks first, then smaller ones down to a page. */
function fillUp(file: string): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (let chunk = 1 << 20; chunk >= 4096; chunk >>= 1) {
      const zeros = Buffer.alloc(chunk);
      for (;;) {
        try {
          fs.writeSync(fd, zeros);
        } catch {
          break;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

async function cleanUp(
  t: Tracking,
  work: string,
  disk: string,
  mounted: boolean,
  shmBefore: Set<string>,
): Promise<string[]> {
  for (const l of t.launches) if (l.code === undefined) l.child.kill('SIGTERM');
  await Promise.race([Promise.all(t.launches.map((l) => l.exited)), sleep(10_000)]);
  for (const l of t.launches) if (l.code === undefined) l.child.kill('SIGKILL');
  const left: string[] = [];
  await sleep(2000);
  for (const pid of [...t.seen, ...t.stopped]) {
    if (!isAlive(pid)) continue;
    left.push(`process ${pid}`);
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      // It ended as we looked.
    }
  }
  for (const l of t.launches) for (const pid of childPids(l.child.pid ?? -1)) left.push(`child ${pid} of a launcher`);
  const shm = shmFiles().filter((f) => !shmBefore.has(f));
  if (shm.length > 0) left.push(`/dev/shm files ${shm.join(', ')}`);
  for (const f of shm) fs.rmSync(path.join('/dev/shm', f), { force: true });
  const stray = (fs.readdirSync(work, { recursive: true }) as string[]).filter((f) =>
    /\.tmp-\d+|\.old-\d+|\.ringtrain\.lock$/.test(f),
  );
  if (stray.length > 0) left.push(`files ${stray.join(', ')}`);
  if (mounted) {
    try {
      execFileSync('umount', [disk]);
    } catch (e) {
      left.push(`the tmpfs at ${disk} (${(e as Error).message})`);
    }
  }
  fs.rmSync(work, { recursive: true, force: true });
  return left;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`soak: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
