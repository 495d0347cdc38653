/**
 * `ringtrain launch`: the coordinator and N workers as child processes on 127.0.0.1, like
 * torchrun's standalone mode. Ports are never guessed: the coordinator binds port 0 and tells
 * the launcher its port over the IPC channel, workers bind port 0 and tell the coordinator.
 *
 * Several machines (torchrun's --nnodes): every node's launcher is given the same coordinator
 * HOST:PORT; node 0 runs the coordinator there, every node starts its own workers with ranks
 * nodeRank * nproc + r, and each node's launcher supervises only its own children.
 *
 * Supervision (supervisor.ts): the first child to die before the job is done fails the run; the
 * launcher stops the rest (SIGTERM, then SIGKILL after a grace period) and names the dead one,
 * restarting instead one killed by a signal while cluster.maxRestarts lasts. Children watch
 * the IPC channel and exit if the launcher disappears, so even a SIGKILLed launcher leaves no
 * orphans.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TOKEN_ENV, type JobSpec } from '../config';
import { writeFailed } from '../core';
import { workerNodeFlags } from './worker-node-flags';
import { ProgressDisplay, oversubscriptionNote, finalQuality, transportTip } from './format';
import { allowedCpus } from './cpu-plan';
import { COORDINATOR_START_MS, startCoordinatorProcess } from './coordinator-process';
import type { LaunchOptions } from './launch-options';
import { lockRunDir } from './run-lock';
import { Supervisor } from './supervisor';

export async function launch(o: LaunchOptions): Promise<number> {
  // A progress bar only on a real terminal; pipes, CI logs and `print` get plain lines.
  const print = o.print;
  const display = new ProgressDisplay(
    print !== undefined
      ? {
          isTTY: false,
          write: (t) =>
            t
              .split('\n')
              .filter((l) => l !== '')
              .forEach((l) => print(l)),
        }
      : (o.terminal ?? {
          isTTY: process.stdout.isTTY === true && process.env.TERM !== 'dumb',
          columns: process.stdout.columns,
          write: (t) => void process.stdout.write(t),
        }),
  );
  const entry = o.entry ?? path.resolve(__dirname, '../cli/entry.js');
  const logDir = path.join(o.outDir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  // Before job.json: a second launch into this directory must not replace the first one's.
  const unlock = lockRunDir(o.outDir);
  try {
    return await supervise(o, display, entry, logDir);
  } finally {
    unlock();
  }
}

/** Where this node's ranks start, and how many ranks the whole job has. */
function ranksOf(o: LaunchOptions): { firstRank: number; world: number } {
  return { firstRank: (o.nodes?.rank ?? 0) * o.nproc, world: o.nproc * (o.nodes?.count ?? 1) };
}

function writeJobFile(o: LaunchOptions): string {
  const jobFile = path.join(o.outDir, 'job.json');
  try {
    fs.writeFileSync(jobFile, JSON.stringify(o.spec, null, 2));
  } catch (e) {
    throw writeFailed(jobFile, e);
  }
  return jobFile;
}

/**
 * Local runs are closed by default: children share a fresh random token unless one was given
 * (the command line asks several nodes for a token of their own: they must share it).
 */
function localToken(spec: JobSpec): NodeJS.ProcessEnv {
  const given = spec.security.tokenFile !== '' || (process.env[TOKEN_ENV] ?? '') !== '';
  return given ? {} : { [TOKEN_ENV]: randomBytes(16).toString('hex') };
}

async function supervise(o: LaunchOptions, display: ProgressDisplay, entry: string, logDir: string): Promise<number> {
  const jobFile = writeJobFile(o);
  const started = Date.now();
  const sup = new Supervisor(o.spec, display, entry, logDir, localToken(o.spec));
  try {
    const nodes = o.nodes;
    const coordinator =
      nodes !== undefined && nodes.rank > 0
        ? { port: nodes.coordinatorPort, statusUrl: '' }
        : await startCoordinatorProcess(sup, o, jobFile, ranksOf(o).world);
    if (coordinator === undefined) {
      sup.failure ??= `the coordinator did not start within ${COORDINATOR_START_MS / 1000} s`;
      await sup.stopAll();
      display.line(`ringtrain: error: ${sup.failure}`);
      return 1;
    }
    display.line(startLine(o, coordinator.port, logDir) + coordinator.statusUrl);
    const crowded = oversubscriptionNote(o.nproc, allowedCpus().length);
    if (crowded !== undefined) display.line(crowded);
    startWorkers(sup, o, jobFile, coordinator.port);
    await sup.waitForAll();
    return outcome(o, sup, display, started);
  } finally {
    sup.dispose();
  }
}

/** The launcher's first line: where the coordinator is, which ranks start here, where the logs go. */
function startLine(o: LaunchOptions, port: number, logDir: string): string {
  const { nodes } = o;
  const { firstRank, world } = ranksOf(o);
  const workers = `${o.nproc} worker${o.nproc === 1 ? '' : 's'}`;
  const ranks = o.nproc === 1 ? `rank ${firstRank}` : `ranks ${firstRank}-${firstRank + o.nproc - 1}`;
  const coordinator =
    nodes === undefined
      ? ''
      : `coordinator ${nodes.rank === 0 ? 'listening on' : 'at'} ${nodes.coordinatorHost}:${port}`;
  const where =
    nodes === undefined
      ? `coordinator on 127.0.0.1:${port}, starting ${workers}`
      : `node ${nodes.rank} of ${nodes.count}, ${coordinator}, starting ${workers} (${ranks} of ${world})`;
  const cpus = o.cpuSets === undefined ? '' : ` on CPUs ${o.cpuSets.join(' | ')}`;
  return `ringtrain: ${where}${cpus}; logs in ${logDir}`;
}

function startWorkers(sup: Supervisor, o: LaunchOptions, jobFile: string, port: number): void {
  const { nodes } = o;
  const { firstRank, world } = ranksOf(o);
  // Node 0's workers reach their coordinator on loopback; other nodes' over the network.
  const coordinatorAddress = `${nodes === undefined || nodes.rank === 0 ? '127.0.0.1' : nodes.coordinatorHost}:${port}`;
  const execArgv = workerNodeFlags(process.execArgv, process.env);
  for (let r = 0; r < o.nproc; r++) {
    const cpus = o.cpuSets?.[r];
    const args = (): string[] => [
      'worker',
      jobFile,
      '--out',
      o.outDir,
      ...(cpus === undefined ? [] : ['--cpus', cpus]),
    ];
    // torchrun's identity variables too (the worker re-exports them after joining).
    const env = {
      RINGTRAIN_COORDINATOR: coordinatorAddress,
      RANK: String(firstRank + r),
      LOCAL_RANK: String(r),
      WORLD_SIZE: String(world),
      LOCAL_WORLD_SIZE: String(o.nproc),
      RINGTRAIN_ADVERTISE_HOST: nodes?.advertise ?? '127.0.0.1',
    };
    sup.spawn({ name: `rank ${firstRank + r}`, args: args(), env, restartArgs: args, execArgv });
  }
}

/** The closing lines and the exit code: 0 finished, 1 failed, 130 / 143 interrupted. */
function outcome(o: LaunchOptions, sup: Supervisor, display: ProgressDisplay, started: number): number {
  display.clear();
  if (sup.failure !== undefined) {
    const jobVerdict = sup.verdict !== undefined && !sup.signalled && sup.interrupted === undefined;
    display.line(
      `ringtrain: error: ${jobVerdict ? `the job failed: ${sup.verdict}` : sup.failure}; stopped the other processes`,
    );
    return sup.interrupted === 'SIGINT' ? 130 : sup.interrupted === 'SIGTERM' ? 143 : 1;
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (o.nodes !== undefined && o.nodes.rank > 0) {
    display.line(
      `ringtrain: this node's workers finished in ${secs} s; node 0 holds the model, metrics and checkpoints (rank 0 writes them)`,
    );
    return 0;
  }
  const acc = finalQuality(sup.finalRecord, sup.lastEpoch);
  const where = `model in ${path.join(o.outDir, 'model')}, metrics in ${path.join(o.outDir, 'metrics.jsonl')}`;
  display.line(`ringtrain: training finished in ${secs} s:${acc} ${where}`);
  display.line(`ringtrain: plots and report: ringtrain report ${o.outDir}`);
  const tip = o.nodes === undefined ? transportTip(o.spec.cluster.transport, o.nproc, sup.lastEpoch) : undefined;
  if (tip !== undefined) display.line(tip);
  return 0;
}

export function defaultRunDir(name: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return path.join('runs', `${name}-${stamp}`);
}
