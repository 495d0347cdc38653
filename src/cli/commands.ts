/**
 * The three commands. Each parses its flags, loads and validates the job once, and calls one
 * function of the role it starts; exit codes are decided here and nowhere else.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCoordinator } from '../coordinator';
import { RingtrainError, DIRECTORY_USES, makeDirectory } from '../core';
import { resolveJoinToken, loadTlsFiles, loadJob } from '../config';
import { launch, defaultRunDir } from '../launcher';
import { createLogger, mergeTraceFiles } from '../observe';
import { parseLayers } from '../train';
import { checkpointDirOf, exportRankEnv, localRankOf, runWorker, writesCheckpoints } from '../worker';
import { intFlag, parseArgs, usage } from './args';
import { bindWorker, nprocOf, planLaunchCpus } from './cpu-flags';
import { nodeCount, planNodes } from './node-flags';
import { ENV_RESUME, resumeTarget } from './resume';
import { TORCHRUN_FLAGS, coordinatorOf, foldTorchrunFlags, worldSizeSets } from './torchrun-names';

/** Where each rank writes its Chrome trace; '{rank}' is replaced (set by `launch --trace FILE` for its children). */
export const ENV_TRACE = 'RINGTRAIN_TRACE';

const tracePart = (file: string, rank: string): string => `${file}.rank${rank}.part`;

/** Merges the ranks' trace parts into `file` and removes them; says so on stderr when none exist. */
function mergeRankTraces(file: string, nproc: number): void {
  const parts = Array.from({ length: nproc }, (_, r) => tracePart(file, String(r))).filter((p) => fs.existsSync(p));
  if (parts.length === 0) {
    process.stderr.write(`ringtrain: no trace written to ${file}: no worker got as far as training\n`);
    return;
  }
  mergeTraceFiles(parts, file);
  for (const p of parts) fs.rmSync(p, { force: true });
}

/** torchrun's default rendezvous port. */
export const DEFAULT_COORDINATOR_PORT = 29400;

function jobFileOf(positional: string[]): string | undefined {
  if (positional.length > 1) throw usage(`expected at most one job file, got ${positional.join(' ')}`);
  return positional[0];
}

export async function launchCommand(argv: readonly string[]): Promise<number> {
  const args = foldTorchrunFlags(
    parseArgs(argv, [
      'nproc',
      'out',
      'resume',
      'trace',
      'cpu-bind',
      'nnodes',
      'node-rank',
      'coordinator',
      'host',
      ...TORCHRUN_FLAGS,
    ]),
  );
  const nproc = nprocOf(args);
  const nnodes = nodeCount(args);
  const cpuSets = planLaunchCpus(args.flags.get('cpu-bind'), nproc);
  const resume = resumeTarget(args.flags.get('resume'));
  const spec = loadJob({
    file: jobFileOf(args.positional) ?? resume?.jobFile,
    sets: [...args.sets, `cluster.worldSize=${nproc * nnodes}`],
  });
  const nodes = planNodes(args, nnodes, resolveJoinToken(spec) !== undefined);
  if (spec.cluster.ringPort !== 0 && nproc > 1)
    throw usage(
      `cluster.ringPort=${spec.cluster.ringPort} gives every worker the same port, but launch starts ${nproc} on this host: set cluster.ringPort=0 (any free port) or --nproc 1`,
    );
  // A wrong layer list is a job-file mistake: say so here, before any process starts.
  if (spec.model.kind === 'layers') parseLayers(spec.model.layers);
  // A resumed run continues where it lies now: job.json's outDir names where it was written, and
  // a copied run directory must not write into the original.
  const outDir = path.resolve(args.flags.get('out') ?? resume?.runDir ?? (spec.outDir || defaultRunDir(spec.name)));
  makeDirectory(outDir, DIRECTORY_USES.run);
  // Rank 0's check of checkpoint.dir (run-worker.ts), made before anything starts; the default
  // (the run directory's checkpoints/) is left for rank 0 to make, so nothing is created early.
  if (spec.checkpoint.dir !== '' && writesCheckpoints(spec))
    makeDirectory(checkpointDirOf(spec, outDir), DIRECTORY_USES.checkpoints);
  // The launcher's children inherit the environment: rank 0 reads the checkpoint, the rest follow.
  if (resume !== undefined) process.env[ENV_RESUME] = resume.dir;
  const trace = args.flags.get('trace');
  if (trace === undefined) return launch({ spec: { ...spec, outDir }, nproc, outDir, cpuSets, nodes });
  // Every rank writes a part next to FILE; the parts become one timeline when the job ends.
  const traceFile = path.resolve(trace);
  makeDirectory(path.dirname(traceFile), DIRECTORY_USES.trace);
  process.env[ENV_TRACE] = tracePart(traceFile, '{rank}');
  try {
    return await launch({ spec: { ...spec, outDir }, nproc, outDir, cpuSets, nodes });
  } finally {
    mergeRankTraces(traceFile, nproc);
  }
}

export async function coordinatorCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ['port', 'host', 'world-size', 'state-file']);
  const world = intFlag(args, 'world-size', 1, 4096);
  const sets = world === undefined ? args.sets : [...args.sets, `cluster.worldSize=${world}`];
  const spec = loadJob({ file: jobFileOf(args.positional), sets });
  const stateFile = args.flags.get('state-file');
  if (stateFile !== undefined) makeDirectory(path.dirname(path.resolve(stateFile)), DIRECTORY_USES.stateFile);
  const log = createLogger({ job: spec.name, role: 'coordinator', level: spec.observe.logLevel });
  /** Stopped by a signal: the failure is the launcher's doing, not a verdict to pass on. */
  let signalled = false;
  const running = await startCoordinator({
    spec,
    host: args.flags.get('host') ?? '0.0.0.0',
    port: intFlag(args, 'port', 0, 65535) ?? DEFAULT_COORDINATOR_PORT,
    log,
    token: resolveJoinToken(spec),
    stateFile,
    tls: loadTlsFiles(spec),
    onListening: (ports) => process.send?.({ kind: 'listening', grpcPort: ports.grpc, metricsPort: ports.metrics }),
    // Under launch: the launcher kills and restarts a worker the job declared lost (a hung one never exits).
    onWorkerLost: (lost) => process.send?.({ kind: 'worker-lost', ...lost }),
    // Under launch: the job's own verdict names the rank that failed first.
    onJobFailed: (reason) => {
      if (!signalled) process.send?.({ kind: 'job-failed', reason });
    },
  });
  const stop = (sig: NodeJS.Signals): void => {
    signalled = true;
    void running.stop(`coordinator stopped by ${sig}`);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const result = await running.done;
  return result.ok ? 0 : 1;
}

export async function workerCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ['coordinator', 'rank', 'host', 'bind', 'out', 'resume', 'trace', 'cpus']);
  const env = process.env;
  const coordinator = coordinatorOf(args.flags.get('coordinator'), env);
  const rankText = args.flags.get('rank') ?? env.RANK ?? env.JOB_COMPLETION_INDEX;
  const rankHint = rankText === undefined ? -1 : Number(rankText);
  if (!Number.isInteger(rankHint) || rankHint < -1)
    throw usage(`rank must be a non-negative integer, got '${rankText}'`);
  const spec = loadJob({ file: jobFileOf(args.positional), sets: worldSizeSets(env, args.sets) });
  // Before any user module loads: the hinted identity, corrected after the join (run-worker).
  if (rankHint >= 0) exportRankEnv({ rank: rankHint, worldSize: spec.cluster.worldSize, localRank: localRankOf(env) });
  const advertise = args.flags.get('host') ?? env.RINGTRAIN_ADVERTISE_HOST ?? env.POD_IP ?? '127.0.0.1';
  const bind =
    args.flags.get('bind') ?? (advertise === '127.0.0.1' || advertise === 'localhost' ? advertise : '0.0.0.0');
  const outDir = path.resolve(args.flags.get('out') ?? (spec.outDir || defaultRunDir(spec.name)));
  // The rank is bound once the coordinator assigns it (run-worker): the hint may differ, and
  // binding both would print the key twice.
  const log = createLogger({ job: spec.name, role: 'worker', level: spec.observe.logLevel });
  bindWorker(args.flags.get('cpus'), log);
  const workerId = `${os.hostname()}-${process.pid}`;
  // Not checked here: only rank 0 reads it (other machines need not have the directory).
  const resume = args.flags.get('resume') ?? env[ENV_RESUME];
  const resumeFrom = resume === undefined || resume === '' ? undefined : path.resolve(resume);
  try {
    await runWorker({
      spec,
      coordinator,
      workerId,
      rankHint,
      advertiseHost: advertise,
      bindHost: bind,
      outDir,
      log,
      token: resolveJoinToken(spec),
      resumeFrom,
      traceFile: args.flags.get('trace') ?? (env[ENV_TRACE] || undefined),
      tls: loadTlsFiles(spec),
      ownCpus: args.flags.get('cpus') !== undefined,
      // Under launch: the launcher kills and restarts a coordinator its workers lost (a hung one never exits).
      onCoordinatorLost: (reason) => process.send?.({ kind: 'coordinator-lost', reason }),
    });
    return 0;
  } catch (e) {
    if (e instanceof RingtrainError && e.code === 'CONFIG_INVALID') throw e;
    if (e instanceof RingtrainError && e.code === 'JOB_DONE') {
      log.info({ event: 'job-already-done' }, `${e.message}: exiting`);
      return 0;
    }
    log.error(
      { event: 'worker-failed', code: e instanceof RingtrainError ? e.code : 'INTERNAL' },
      (e as Error).message,
    );
    process.send?.({ kind: 'failed', message: (e as Error).message });
    return 1;
  }
}
