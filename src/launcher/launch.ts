/**
 * `ringtrain launch`: the coordinator and N workers as child processes on 127.0.0.1, like
 * torchrun's standalone mode. Ports are never guessed: the coordinator binds port 0 and tells
 * the launcher its port over the IPC channel, workers bind port 0 and tell the coordinator.
 *
 * Several machines (torchrun's --nnodes): every node's launcher is given the same coordinator
 * HOST:PORT; node 0 runs the coordinator there, every node starts its own workers with ranks
 * nodeRank * nproc + r, and each node's launcher supervises only its own children.
 *
 * Supervision: the first child to die before the job is done fails the run; the launcher stops
 * the rest (SIGTERM, then SIGKILL after a grace period) and names the dead one. Children watch
 * the IPC channel and exit if the launcher disappears, so even a SIGKILLed launcher leaves no
 * orphans.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TOKEN_ENV } from '../config/join-token';
import { writeFailed } from '../config/durable-files';
import { removeSegmentsOf } from '../allreduce/shm-segment';
import { workerNodeFlags } from './worker-node-flags';
import type { JobSpec } from '../config/job-spec';
import { ProgressDisplay, displayLine, oversubscriptionNote, finalQuality, parseRecord, transportTip, type LogRecord, type Terminal } from './format';
import { allowedCpus } from './cpu-plan';
import { EXIT_GRACE_MS, notExitedWithin } from './exit-grace';
import { hungTarget } from './hung-processes';
import { leaveOutReason, lostAction } from './restart-policy';
import { LogTail, TAIL_INTERVAL_MS } from './log-tail';
import { lockRunDir } from './run-lock';

/** Time between SIGTERM and SIGKILL when stopping children. */
export const STOP_GRACE_MS = 3_000;
/** How long the coordinator may take to report its port. */
export const COORDINATOR_START_MS = 30_000;

export interface LaunchOptions {
  spec: JobSpec;
  nproc: number;
  outDir: string;
  /** Where people read progress (stdout by default). */
  print?: (line: string) => void;
  /** Where the live display goes when `print` is not given (stdout by default). */
  terminal?: Terminal;
  /** The compiled CLI entry each child runs. */
  entry?: string;
  /** Each rank's CPU list (`--cpu-bind cores`); undefined = the scheduler places the workers. */
  cpuSets?: string[];
  /** This machine's place in a job of several; undefined = everything runs here. */
  nodes?: NodePlan;
}

/** One machine of a job that spans several, each running `nproc` workers. */
export interface NodePlan {
  count: number;
  /** Node 0 runs the coordinator; the others join it. */
  rank: number;
  /** The coordinator's address as every node reaches it. */
  coordinatorHost: string;
  /** Node 0 listens here (0 = any free port, printed for the other nodes). */
  coordinatorPort: number;
  /** The address the other machines reach this one's workers at. */
  advertise: string;
}

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || host.startsWith('127.');

interface Child {
  name: string;
  proc: ChildProcess;
  /** Exited (set before `exited` listeners that restart it run). */
  done?: boolean;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  lastError: string;
  tail: LogTail;
}

export async function launch(o: LaunchOptions): Promise<number> {
  // A progress bar only on a real terminal; pipes, CI logs and `print` get plain lines.
  const print = o.print;
  const display = new ProgressDisplay(
    print !== undefined
      ? { isTTY: false, write: (t) => t.split('\n').filter((l) => l !== '').forEach((l) => print(l)) }
      : (o.terminal ?? { isTTY: process.stdout.isTTY === true && process.env.TERM !== 'dumb', columns: process.stdout.columns, write: (t) => void process.stdout.write(t) }),
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

async function supervise(o: LaunchOptions, display: ProgressDisplay, entry: string, logDir: string): Promise<number> {
  const jobFile = path.join(o.outDir, 'job.json');
  try {
    fs.writeFileSync(jobFile, JSON.stringify(o.spec, null, 2));
  } catch (e) {
    throw writeFailed(jobFile, e);
  }
  const children: Child[] = [];
  let failure: string | undefined;
  let finalVal: LogRecord | undefined;
  let finalRec: LogRecord | undefined;
  let stopping = false;
  let interrupted: NodeJS.Signals | undefined;
  const started = Date.now();
  // Local runs are closed by default: children share a fresh random token unless one was given
  // (the command line asks several nodes for a token of their own: they must share it).
  const tokenEnv: NodeJS.ProcessEnv =
    o.spec.security.tokenFile === '' && (process.env[TOKEN_ENV] ?? '') === '' ? { [TOKEN_ENV]: randomBytes(16).toString('hex') } : {};
  const nodes = o.nodes;
  const firstRank = (nodes?.rank ?? 0) * o.nproc;
  const world = o.nproc * (nodes?.count ?? 1);

  // torchrun's restart policy: a process killed by a signal (SIGKILL, the OOM killer, a crash)
  // is started again with the same rank, while restarts last. A process that exits with an
  // error code reported why, and the job fails.
  let restartsLeft = o.spec.cluster.maxRestarts;
  const rule = { ...o.spec.cluster, worldSize: world };
  /** One line of a child's log: its last error, the final epoch, and what people should see. */
  const onChildLine = (child: Child, line: string): void => {
    const rec = parseRecord(line);
    if (rec === undefined) return;
    if ((rec.level ?? 0) >= 50 && rec.msg) child.lastError = rec.msg;
    if (rec.event === 'epoch' && rec.rank === 0) finalVal = rec;
    if (rec.event === 'final' && rec.rank === 0) finalRec = rec;
    let shown: string | undefined;
    try {
      shown = displayLine(child.name, rec);
    } catch (e) {
      // A record this launcher cannot render is still shown, never fatal to the job.
      shown = `${child.name}: ${rec.msg ?? line} (unreadable record: ${(e as Error).message})`;
    }
    if (stopping) return;
    if (rec.event === 'progress' && rec.rank === 0) display.progress(rec);
    else if (shown !== undefined && rec.event === 'epoch') display.epochDone(shown);
    else if (shown !== undefined) display.line(shown);
  };
  const tails = setInterval(() => {
    for (const c of children) if (c.done !== true) c.tail.drain();
  }, TAIL_INTERVAL_MS);
  const spawn = (name: string, args: string[], env: NodeJS.ProcessEnv, restartArgs?: () => string[], execArgv = process.execArgv): Child => {
    // The child writes its log file itself (log-tail.ts: a pipe would make it wait for us).
    const logFile = path.join(logDir, `${name}.log`);
    const tail = new LogTail(logFile, (line) => onChildLine(child, line));
    const fd = fs.openSync(logFile, 'a');
    let proc: ChildProcess;
    try {
      proc = fork(entry, args, { stdio: ['ignore', fd, fd, 'ipc'], env: { ...process.env, ...tokenEnv, ...env }, execArgv });
    } finally {
      fs.closeSync(fd);
    }
    const child: Child = {
      name,
      proc,
      lastError: '',
      tail,
      exited: new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal }))),
    };
    proc.on('message', (m: unknown) => onMessage(child, m));
    void child.exited.then(({ code, signal }) => {
      tail.drain(true);
      child.done = true;
      // A worker killed while offering a shared-memory segment leaves its file behind.
      if (proc.pid !== undefined) removeSegmentsOf(proc.pid);
      if (stopping || code === 0) return;
      const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
      const action = signal === null || restartArgs === undefined ? 'fail' : lostAction(rule, name !== 'coordinator', restartsLeft);
      if (action === 'restart' && restartArgs !== undefined) {
        restartsLeft -= 1;
        const used = o.spec.cluster.maxRestarts - restartsLeft;
        display.line(`ringtrain: ${name} (pid ${proc.pid}) ${how}; restarting it (restart ${used} of ${o.spec.cluster.maxRestarts})`);
        spawn(name, restartArgs(), env, restartArgs, execArgv);
        return;
      }
      if (action === 'leave-out') {
        display.line(`ringtrain: ${name} (pid ${proc.pid}) ${how}; not restarting it (${leaveOutReason(rule)})`);
        return;
      }
      // Say when the budget is why: a killed process would have been restarted otherwise.
      const spent = signal !== null && restartArgs !== undefined && o.spec.cluster.maxRestarts > 0 ? ` (no restarts left: ${o.spec.cluster.maxRestarts} of cluster.maxRestarts=${o.spec.cluster.maxRestarts} used)` : '';
      if (failure === undefined) signalled = signal !== null;
      failure ??= `${name} (pid ${proc.pid}) ${how}${spent}${child.lastError ? `: ${child.lastError}` : ''}`;
      void stopAll();
    });
    children.push(child);
    return child;
  };

  /** The coordinator's reason when the job failed: it names the rank that failed first, not a knock-on exit. */
  let verdict: string | undefined;
  /** Whether the first failure was a process killed by a signal (a cause of its own, not a knock-on). */
  let signalled = false;
  const onMessage = (from: Child, m: unknown): void => {
    const msg = m as { kind?: unknown; reason?: unknown; message?: unknown };
    // Over IPC too, since on a full disk the log line saying so cannot be written.
    if (msg.kind === 'job-failed' && from.name === 'coordinator' && typeof msg.reason === 'string') verdict ??= msg.reason;
    else if (msg.kind === 'failed' && typeof msg.message === 'string') from.lastError = msg.message;
    else replaceHung(from, m);
  };
  /** Kills a child the job declared lost (hung-processes.ts) while restarts remain; its exit restarts it. */
  const killed = new Set<number>();
  const replaceHung = (from: Child, m: unknown): void => {
    const verdict = hungTarget(from, m, children, os.hostname());
    const pid = verdict?.child.proc.pid;
    if (verdict === undefined || pid === undefined || stopping || killed.has(pid)) return;
    const action = lostAction(rule, verdict.child.name !== 'coordinator', restartsLeft);
    if (action === 'fail') return;
    killed.add(pid);
    display.line(`ringtrain: ${verdict.why}; killing it ${action === 'restart' ? 'so it can be restarted' : `(${leaveOutReason(rule)})`}`);
    verdict.child.proc.kill('SIGKILL');
  };

  let stopAllPromise: Promise<void> | undefined;
  const stopAll = (): Promise<void> => {
    stopAllPromise ??= (async () => {
      stopping = true;
      const alive = children.filter((c) => c.proc.exitCode === null && c.proc.signalCode === null);
      for (const c of alive) c.proc.kill('SIGTERM');
      const killer = setTimeout(() => alive.forEach((c) => c.proc.kill('SIGKILL')), STOP_GRACE_MS);
      await Promise.all(alive.map((c) => c.exited));
      clearTimeout(killer);
    })();
    return stopAllPromise;
  };

  const onSignal = (sig: NodeJS.Signals): void => {
    interrupted ??= sig;
    failure ??= `interrupted by ${sig}`;
    void stopAll();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let statusUrl = '';
  /** Starts the coordinator; resolves to its gRPC port, or undefined when it did not start in time. */
  const startCoordinator = (): Promise<number | undefined> => {
    const stateFile = path.join(o.outDir, 'coordinator-state.json');
    fs.rmSync(stateFile, { force: true });
    // Other nodes reach it over the network: every interface, unless it was given a loopback address.
    const bindHost = nodes === undefined ? '127.0.0.1' : isLoopback(nodes.coordinatorHost) ? nodes.coordinatorHost : '0.0.0.0';
    // A restarted coordinator serves its status page and /metrics where the first one did, so
    // the URL the launcher printed (and a Prometheus target) stays right.
    let metricsPort = o.spec.observe.metricsPort;
    const coordinatorArgs = (port: number): string[] => [
      ...['coordinator', jobFile, '--host', bindHost, '--port', String(port), '--world-size', String(world), '--state-file', stateFile],
      ...(metricsPort === 0 ? [] : ['--set', `observe.metricsPort=${metricsPort}`]),
    ];
    let coordinatorPort = nodes?.coordinatorPort ?? 0;
    // A restarted coordinator comes back on the same port, so the workers find it again.
    const coordinator = spawn('coordinator', coordinatorArgs(coordinatorPort), {}, () => coordinatorArgs(coordinatorPort));
    return new Promise<number | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), COORDINATOR_START_MS);
      coordinator.proc.on('message', (m: unknown) => {
        const msg = m as { kind?: string; grpcPort?: number; metricsPort?: number };
        if (msg.kind === 'listening' && typeof msg.grpcPort === 'number') {
          clearTimeout(timer);
          const host = ['0.0.0.0', '::', ''].includes(o.spec.observe.metricsHost) ? '127.0.0.1' : o.spec.observe.metricsHost;
          if (typeof msg.metricsPort === 'number') metricsPort = msg.metricsPort;
          if (typeof msg.metricsPort === 'number') statusUrl = `; status page http://${host.includes(':') ? `[${host}]` : host}:${msg.metricsPort}/`;
          coordinatorPort = msg.grpcPort;
          resolve(msg.grpcPort);
        }
      });
      void coordinator.exited.then(() => resolve(undefined));
    });
  };

  try {
    const port = nodes !== undefined && nodes.rank > 0 ? nodes.coordinatorPort : await startCoordinator();
    if (port === undefined) {
      failure ??= `the coordinator did not start within ${COORDINATOR_START_MS / 1000} s`;
      await stopAll();
      display.line(`ringtrain: error: ${failure}`);
      return 1;
    }
    const workers = `${o.nproc} worker${o.nproc === 1 ? '' : 's'}`;
    const ranks = o.nproc === 1 ? `rank ${firstRank}` : `ranks ${firstRank}-${firstRank + o.nproc - 1}`;
    const where = nodes === undefined ? `coordinator on 127.0.0.1:${port}, starting ${workers}` : `node ${nodes.rank} of ${nodes.count}, coordinator ${nodes.rank === 0 ? 'listening on' : 'at'} ${nodes.coordinatorHost}:${port}, starting ${workers} (${ranks} of ${world})`;
    display.line(`ringtrain: ${where}${o.cpuSets === undefined ? '' : ` on CPUs ${o.cpuSets.join(' | ')}`}; logs in ${logDir}${statusUrl}`);
    const crowded = oversubscriptionNote(o.nproc, allowedCpus().length);
    if (crowded !== undefined) display.line(crowded);
    // Node 0's workers reach their coordinator on loopback; other nodes' over the network.
    const coordinatorAddress = `${nodes === undefined || nodes.rank === 0 ? '127.0.0.1' : nodes.coordinatorHost}:${port}`;
    for (let r = 0; r < o.nproc; r++) {
      const cpus = o.cpuSets?.[r];
      const workerArgs = (): string[] => ['worker', jobFile, '--out', o.outDir, ...(cpus === undefined ? [] : ['--cpus', cpus])];
      // torchrun's identity variables too (the worker re-exports them after joining).
      const env = { RINGTRAIN_COORDINATOR: coordinatorAddress, RANK: String(firstRank + r), LOCAL_RANK: String(r), WORLD_SIZE: String(world), LOCAL_WORLD_SIZE: String(o.nproc), RINGTRAIN_ADVERTISE_HOST: nodes?.advertise ?? '127.0.0.1' };
      spawn(`rank ${firstRank + r}`, workerArgs(), env, workerArgs, workerNodeFlags(process.execArgv, process.env));
    }
    // Restarts add children while we wait: wait until none is left running.
    for (let running = children.filter((c) => !c.done); running.length > 0; running = children.filter((c) => !c.done)) {
      if (!children.some((c) => c.done === true && c.proc.exitCode === 0)) {
        await Promise.race(running.map((c) => c.exited));
        continue;
      }
      // One process finished the job: the rest get EXIT_GRACE_MS to follow (exit-grace.ts).
      const stuck = await notExitedWithin(running, EXIT_GRACE_MS);
      if (stuck.length === 0) continue;
      const names = stuck.map((c) => `${c.name} (pid ${c.proc.pid})`).join(', ');
      display.line(`ringtrain: warning: ${names} did not exit within ${EXIT_GRACE_MS / 1000} s of the job finishing; stopping ${stuck.length === 1 ? 'it' : 'them'} (logs in ${logDir})`);
      await stopAll();
    }
    await stopAll();
    if (failure !== undefined) {
      display.clear();
      const cause = verdict !== undefined && !signalled && interrupted === undefined ? `the job failed: ${verdict}` : failure;
      display.line(`ringtrain: error: ${cause}; stopped the other processes`);
      return interrupted === 'SIGINT' ? 130 : interrupted === 'SIGTERM' ? 143 : 1;
    }
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    if (nodes !== undefined && nodes.rank > 0) {
      display.clear();
      display.line(`ringtrain: this node's workers finished in ${secs} s; node 0 holds the model, metrics and checkpoints (rank 0 writes them)`);
      return 0;
    }
    const acc = finalQuality(finalRec, finalVal);
    display.clear();
    display.line(`ringtrain: training finished in ${secs} s:${acc} model in ${path.join(o.outDir, 'model')}, metrics in ${path.join(o.outDir, 'metrics.jsonl')}`);
    display.line(`ringtrain: plots and report: ringtrain report ${o.outDir}`);
    const tip = nodes === undefined ? transportTip(o.spec.cluster.transport, o.nproc, finalVal) : undefined;
    if (tip !== undefined) display.line(tip);
    return 0;
  } finally {
    clearInterval(tails);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function defaultRunDir(name: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return path.join('runs', `${name}-${stamp}`);
}
