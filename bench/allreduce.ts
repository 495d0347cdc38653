/**
 * `npm run bench:allreduce -- [--nproc N] [--bytes 4K,400K,4M] [--transport grpc,tcp,tcp+shm] [--block 4M] [--algorithm auto|ring]`:
 * nccl-tests-style table of all-reduce between N local processes over each transport (`tcp` is
 * sockets only, `tcp+shm` lets the TCP transport pass payloads through shared memory, as it does
 * between workers of one host by default, polling the segment while it waits): median
 * time, algbw, busbw = algbw x 2(N-1)/N, and a correctness check. `--algorithm ring` keeps two
 * ranks off the one-round pair exchange the Communicator uses for their small buckets. The ranks
 * run with the V8 flags `launch` gives workers (worker-node-flags.ts). When /usr/bin/python3 has torch, gloo's all_reduce runs with the same
 * sizes in the same run and the ratio is printed.
 */
import { execFileSync, fork } from 'node:child_process';
import * as path from 'node:path';
import { WIRE_DTYPES, type TransportKind, type WireDtype } from '../src/allreduce';
import { parseArgs, type ParsedArgs } from '../src/cli/args';
import { DEFAULT_JOB } from '../src/config';
import { allowedCpus } from '../src/launcher/cpu-plan';
import { oversubscriptionNote } from '../src/launcher/format';
import { workerNodeFlags } from '../src/launcher/worker-node-flags';

/** A transport as the benchmark names it: tcp+shm is the tcp transport with its shared-memory path. */
export type BenchTransport = TransportKind | 'tcp+shm';
const BENCH_TRANSPORTS: readonly BenchTransport[] = ['grpc', 'tcp', 'tcp+shm'];
/** As a worker offers by default (cluster.sharedMemoryMb). */
const SHARED_BYTES = DEFAULT_JOB.cluster.sharedMemoryMb * 2 ** 20;

interface Row {
  bytes: number;
  medianMs: number;
  correct: boolean;
}

/** Bad command-line input: printed as one line, exit code 2. */
class UsageError extends Error {}

/**
 * Extra Node flags for the ranks, for looking inside a run: RINGTRAIN_BENCH_PROF=DIR writes a CPU
 * profile per rank, RINGTRAIN_BENCH_NODE_FLAGS adds flags as written (e.g. "--trace-gc").
 */
function benchNodeFlags(env: NodeJS.ProcessEnv): string[] {
  const flags = (env.RINGTRAIN_BENCH_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
  if (env.RINGTRAIN_BENCH_PROF !== undefined) flags.push('--cpu-prof', `--cpu-prof-dir=${env.RINGTRAIN_BENCH_PROF}`);
  return flags;
}

function parseBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)$/i.exec(s.trim());
  if (!m || Number(m[1]) <= 0) throw new UsageError(`bad size '${s}': use e.g. 4K, 400K, 4M`);
  const mult = { '': 1, K: 1e3, M: 1e6, G: 1e9 }[(m[2] ?? '').toUpperCase()] ?? 1;
  return Math.round(Number(m[1]) * mult);
}

/** Shared-memory polling as `launch` sets it: on unless the ranks outnumber the CPUs. */
function pollsHere(world: number): boolean {
  return oversubscriptionNote(world, allowedCpus().length) === undefined;
}

export async function runRing(
  world: number,
  sizes: number[],
  iters: number,
  transport: BenchTransport = 'grpc',
  dtype: WireDtype = 'fp32',
  blockBytes?: number,
  algorithm: 'auto' | 'ring' = 'auto',
): Promise<Row[]> {
  const poll = pollsHere(world) ? DEFAULT_JOB.cluster.pollMicros : 0;
  const args = transport === 'tcp+shm' ? ['tcp', String(SHARED_BYTES), String(poll)] : [transport, '0', '0'];
  const procs = Array.from({ length: world }, () =>
    fork(path.join(__dirname, 'allreduce-worker.js'), args, {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: workerNodeFlags(benchNodeFlags(process.env), process.env),
    }),
  );
  // A rank that dies before reporting fails the benchmark (its error is already on stderr).
  const died = new Promise<never>((_, reject) =>
    procs.forEach((p, rank) =>
      p.once('exit', (code, signal) =>
        reject(
          new Error(`benchmark rank ${rank} exited (${signal ?? `code ${code}`}) before reporting; its error is above`),
        ),
      ),
    ),
  );
  died.catch(() => undefined);
  const ports = await Promise.race([
    Promise.all(
      procs.map(
        (p) => new Promise<number>((resolve) => p.once('message', (m) => resolve((m as { port: number }).port))),
      ),
    ),
    died,
  ]);
  const addresses = ports.map((p) => `127.0.0.1:${p}`);
  const results = procs.map((p) =>
    Promise.race([
      new Promise<Row[]>((resolve) =>
        p.on('message', (m) => {
          const msg = m as { kind: string; results: Row[] };
          if (msg.kind === 'results') resolve(msg.results);
        }),
      ),
      died,
    ]),
  );
  procs.forEach((p, rank) =>
    p.send({ kind: 'plan', rank, world, addresses, sizes, iters, dtype, blockBytes, algorithm }),
  );
  const all = await Promise.all(results);
  const exited = procs.map((p) => new Promise((resolve) => p.once('exit', resolve)));
  procs.forEach((p) => p.send({ kind: 'done' }));
  await Promise.all(exited);
  return (all[0] as Row[]).map((r, i) => ({ ...r, correct: all.every((rows) => rows[i]?.correct === true) }));
}

function gloo(world: number, sizes: number[]): Map<number, number> | undefined {
  try {
    const script = path.resolve(__dirname, '../../../shared/peers/gloo_allreduce.py');
    const out = execFileSync('/usr/bin/python3', [script, '--procs', String(world), '--bytes', sizes.join(',')], {
      encoding: 'utf8',
      timeout: 300_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const times = new Map<number, number>();
    for (const line of out.split('\n')) {
      if (!line.startsWith('{')) continue;
      const rec = JSON.parse(line) as { bytes?: number; medianMs?: number };
      if (typeof rec.bytes === 'number' && typeof rec.medianMs === 'number') times.set(rec.bytes, rec.medianMs);
    }
    return times.size > 0 ? times : undefined;
  } catch {
    return undefined;
  }
}

export function formatTable(world: number, rows: Row[], peer?: Map<number, number>): string {
  const head = [
    'bytes',
    'time ms',
    'algbw GB/s',
    'busbw GB/s',
    'check',
    ...(peer ? ['gloo ms', 'ringtrain/gloo'] : []),
  ];
  const lines = rows.map((r) => {
    const alg = r.bytes / (r.medianMs / 1e3) / 1e9;
    const bus = (alg * 2 * (world - 1)) / world;
    const g = peer?.get(r.bytes);
    return [
      String(r.bytes),
      r.medianMs.toFixed(3),
      alg.toFixed(3),
      bus.toFixed(3),
      r.correct ? 'ok' : 'WRONG',
      ...(peer
        ? [g !== undefined ? g.toFixed(3) : '-', g !== undefined ? `${(r.medianMs / g).toFixed(2)}x time` : '-']
        : []),
    ];
  });
  const all = [head, ...lines];
  const w = head.map((_, c) => Math.max(...all.map((l) => (l[c] ?? '').length)));
  return all.map((l) => `| ${l.map((cell, c) => cell.padStart(w[c] ?? 0)).join(' | ')} |`).join('\n');
}

const USAGE = `usage: ringtrain bench allreduce [--nproc N] [--bytes 4K,400K,4M,40M,100M] [--iters 300]
    [--transport grpc,tcp,tcp+shm] [--compression fp32|fp16|bf16] [--block 1M] [--algorithm auto|ring] [--no-peer]
Per size: median time, algbw, busbw = algbw x 2(N-1)/N and a correctness check, with PyTorch gloo's
figures and the ratio when /usr/bin/python3 has torch (--no-peer skips it).
`;
const VALUE_FLAGS = ['nproc', 'bytes', 'iters', 'transport', 'compression', 'block', 'algorithm'];

/** The CLI's own parser: a misspelt flag would otherwise run the default benchmark for minutes. */
function benchArgs(argv: readonly string[]): ParsedArgs {
  let args: ParsedArgs;
  try {
    args = parseArgs(argv, VALUE_FLAGS, ['no-peer']);
  } catch (e) {
    throw new UsageError(`${(e as Error).message.split('\n')[0] ?? ''}\n${USAGE}`);
  }
  const extra = [...args.positional, ...args.sets];
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra.join(' ')}'\n${USAGE}`);
  return args;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  const args = benchArgs(argv);
  const get = (flag: string, dflt: string): string => args.flags.get(flag) ?? dflt;
  const world = Number(get('nproc', '2'));
  if (!Number.isInteger(world) || world < 2 || world > 64)
    throw new UsageError(`--nproc must be an integer from 2 to 64, got '${get('nproc', '2')}'`);
  const sizes = get('bytes', '4K,400K,4M,40M,100M').split(',').map(parseBytes);
  const iters = Number(get('iters', '300'));
  if (!Number.isInteger(iters) || iters < 1)
    throw new UsageError(`--iters must be a positive integer, got '${get('iters', '300')}'`);
  const transports = get('transport', 'grpc,tcp,tcp+shm').split(',') as BenchTransport[];
  for (const t of transports)
    if (!BENCH_TRANSPORTS.includes(t))
      throw new UsageError(`unknown transport '${t}': use ${BENCH_TRANSPORTS.join(', ')} (comma-separated)`);
  const dtype = get('compression', 'fp32') as WireDtype;
  if (!WIRE_DTYPES.includes(dtype))
    throw new UsageError(`unknown --compression '${dtype}': use ${WIRE_DTYPES.join(', ')}`);
  const blockText = args.flags.get('block');
  const block = blockText === undefined ? undefined : parseBytes(blockText);
  const algorithm = get('algorithm', 'auto');
  if (algorithm !== 'auto' && algorithm !== 'ring')
    throw new UsageError(`--algorithm takes auto or ring, got '${algorithm}'`);
  const noPeer = args.flags.has('no-peer');
  const peer = noPeer ? undefined : gloo(world, sizes);
  for (const transport of transports) {
    const rows = await runRing(world, sizes, iters, transport, dtype, block, algorithm);
    // Two polling same-host ranks on tcp+shm sum float32 through one shared file (shm-pair.ts):
    // buffers of up to a quarter of the segment live in it and are summed in place, as training's
    // gradients are (allocateShared); larger ones up to half of it are copied in.
    const file = transport === 'tcp+shm' && dtype === 'fp32' && pollsHere(world);
    const how =
      algorithm === 'ring' || world !== 2
        ? 'ring'
        : file
          ? `one shared file, in place up to ${SHARED_BYTES / 2 ** 22} MiB, copied in up to ${SHARED_BYTES / 2 ** 21} MiB, ring above`
          : 'pair exchange up to 4 MiB, ring above';
    process.stdout.write(
      `\nall-reduce (${how}), transport ${transport}, wire ${dtype}, ${block === undefined ? '1 MiB' : `${block}-byte`} blocks, ${world} processes on 127.0.0.1, median of ${iters} after 20 warm-up (10 after 3 for >= 10 MB), as gloo's\n`,
    );
    process.stdout.write(`${formatTable(world, rows, peer)}\n`);
  }
  if (!peer && !noPeer) process.stdout.write('(gloo peer not measured: /usr/bin/python3 with torch not found)\n');
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`ringtrain bench allreduce: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  });
}
