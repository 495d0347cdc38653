/**
 * The launcher's children: it starts each with a log file of its own, shows what they log,
 * restarts one killed by a signal while restarts last (torchrun's policy), kills one the job
 * declared lost so that it can be restarted (or left out of a ring that may shrink:
 * restart-policy.ts), and stops them all when one fails or a signal comes. A child that exits
 * with an error code reported why, and the job fails.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { JobSpec } from '../config';
import { removeSegmentsOf } from '../allreduce';
import { displayLine, parseRecord, type LogRecord, type ProgressDisplay } from './format';
import { EXIT_GRACE_MS, notExitedWithin } from './exit-grace';
import { hungTarget } from './hung-processes';
import { leaveOutReason, lostAction } from './restart-policy';
import { LogTail, TAIL_INTERVAL_MS } from './log-tail';

/** Time between SIGTERM and SIGKILL when stopping children. */
export const STOP_GRACE_MS = 3_000;

export interface Child {
  name: string;
  proc: ChildProcess;
  /** Exited (set before `exited` listeners that restart it run). */
  done?: boolean;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  lastError: string;
  tail: LogTail;
}

/** How to start a child, and again after it was killed. */
export interface ChildStart {
  name: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** The arguments of a restart; undefined = the child is never restarted. */
  restartArgs?: () => string[];
  execArgv?: string[];
}

export class Supervisor {
  readonly children: Child[] = [];
  /** The first failure, as people should read it. */
  failure: string | undefined;
  /** The coordinator's reason when the job failed: it names the rank that failed first, not a knock-on exit. */
  verdict: string | undefined;
  /** Whether the first failure was a process killed by a signal (a cause of its own, not a knock-on). */
  signalled = false;
  interrupted: NodeJS.Signals | undefined;
  /** Rank 0's last epoch record and its final record, for the closing line. */
  lastEpoch: LogRecord | undefined;
  finalRecord: LogRecord | undefined;
  private stopping = false;
  private restartsLeft: number;
  /** Children killed as hung, so a second verdict on one is not acted on twice. */
  private readonly killed = new Set<number>();
  private stopped: Promise<void> | undefined;
  private readonly tails: NodeJS.Timeout;
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    this.interrupted ??= sig;
    this.failure ??= `interrupted by ${sig}`;
    void this.stopAll();
  };

  constructor(
    private readonly spec: JobSpec,
    private readonly display: ProgressDisplay,
    /** The compiled CLI entry each child runs. */
    private readonly entry: string,
    private readonly logDir: string,
    /** Added to every child's environment (the local job's join token). */
    private readonly baseEnv: NodeJS.ProcessEnv,
  ) {
    this.restartsLeft = spec.cluster.maxRestarts;
    this.tails = setInterval(() => {
      for (const c of this.children) if (c.done !== true) c.tail.drain();
    }, TAIL_INTERVAL_MS);
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  /** Stops tailing logs and listening for signals. */
  dispose(): void {
    clearInterval(this.tails);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }

  spawn(s: ChildStart): Child {
    // The child writes its log file itself (log-tail.ts: a pipe would make it wait for us).
    const logFile = path.join(this.logDir, `${s.name}.log`);
    const tail = new LogTail(logFile, (line) => this.onChildLine(child, line));
    const fd = fs.openSync(logFile, 'a');
    let proc: ChildProcess;
    try {
      const env = { ...process.env, ...this.baseEnv, ...s.env };
      proc = fork(this.entry, s.args, {
        stdio: ['ignore', fd, fd, 'ipc'],
        env,
        execArgv: s.execArgv ?? process.execArgv,
      });
    } finally {
      fs.closeSync(fd);
    }
    const child: Child = {
      name: s.name,
      proc,
      lastError: '',
      tail,
      exited: new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal }))),
    };
    proc.on('message', (m: unknown) => this.onMessage(child, m));
    void child.exited.then(({ code, signal }) => this.onExit(child, s, code, signal));
    this.children.push(child);
    return child;
  }

  private onExit(child: Child, s: ChildStart, code: number | null, signal: NodeJS.Signals | null): void {
    const { proc, name } = child;
    child.tail.drain(true);
    child.done = true;
    // A worker killed while offering a shared-memory segment leaves its file behind.
    if (proc.pid !== undefined) removeSegmentsOf(proc.pid);
    if (this.stopping || code === 0) return;
    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
    const budget = this.spec.cluster.maxRestarts;
    const isWorker = name !== 'coordinator';
    const restartable = signal !== null && s.restartArgs !== undefined;
    const action = restartable ? lostAction(this.spec.cluster, isWorker, this.restartsLeft) : 'fail';
    if (action === 'restart' && s.restartArgs !== undefined) {
      this.restartsLeft -= 1;
      const used = budget - this.restartsLeft;
      this.display.line(`ringtrain: ${name} (pid ${proc.pid}) ${how}; restarting it (restart ${used} of ${budget})`);
      this.spawn({ ...s, args: s.restartArgs() });
      return;
    }
    if (action === 'leave-out') {
      const why = leaveOutReason(this.spec.cluster);
      this.display.line(`ringtrain: ${name} (pid ${proc.pid}) ${how}; not restarting it (${why})`);
      return;
    }
    // Say when the budget is why: a killed process would have been restarted otherwise.
    const spent =
      signal !== null && s.restartArgs !== undefined && budget > 0
        ? ` (no restarts left: ${budget} of cluster.maxRestarts=${budget} used)`
        : '';
    if (this.failure === undefined) this.signalled = signal !== null;
    this.failure ??= `${name} (pid ${proc.pid}) ${how}${spent}${child.lastError ? `: ${child.lastError}` : ''}`;
    void this.stopAll();
  }

  /** One line of a child's log: its last error, the final epoch, and what people should see. */
  private onChildLine(child: Child, line: string): void {
    const rec = parseRecord(line);
    if (rec === undefined) return;
    if ((rec.level ?? 0) >= 50 && rec.msg) child.lastError = rec.msg;
    if (rec.event === 'epoch' && rec.rank === 0) this.lastEpoch = rec;
    if (rec.event === 'final' && rec.rank === 0) this.finalRecord = rec;
    let shown: string | undefined;
    try {
      shown = displayLine(child.name, rec);
    } catch (e) {
      // A record this launcher cannot render is still shown, never fatal to the job.
      shown = `${child.name}: ${rec.msg ?? line} (unreadable record: ${(e as Error).message})`;
    }
    if (this.stopping) return;
    if (rec.event === 'progress' && rec.rank === 0) this.display.progress(rec);
    else if (shown !== undefined && rec.event === 'epoch') this.display.epochDone(shown);
    else if (shown !== undefined) this.display.line(shown);
  }

  private onMessage(from: Child, m: unknown): void {
    const msg = m as { kind?: unknown; reason?: unknown; message?: unknown };
    // Over IPC too, since on a full disk the log line saying so cannot be written.
    if (msg.kind === 'job-failed' && from.name === 'coordinator' && typeof msg.reason === 'string')
      this.verdict ??= msg.reason;
    else if (msg.kind === 'failed' && typeof msg.message === 'string') from.lastError = msg.message;
    else this.replaceHung(from, m);
  }

  /**
   * Kills a child the job declared lost (hung-processes.ts) while restarts remain, or one the
   * ring goes on without (restart-policy.ts); its exit restarts it or leaves it out.
   */
  private replaceHung(from: Child, m: unknown): void {
    const verdict = hungTarget(from, m, this.children, os.hostname());
    const pid = verdict?.child.proc.pid;
    if (verdict === undefined || pid === undefined || this.stopping || this.killed.has(pid)) return;
    const action = lostAction(this.spec.cluster, verdict.child.name !== 'coordinator', this.restartsLeft);
    if (action === 'fail') return;
    this.killed.add(pid);
    const then = action === 'restart' ? 'so it can be restarted' : `(${leaveOutReason(this.spec.cluster)})`;
    this.display.line(`ringtrain: ${verdict.why}; killing it ${then}`);
    verdict.child.proc.kill('SIGKILL');
  }

  /** SIGTERM to every live child, SIGKILL to those still running STOP_GRACE_MS later. */
  stopAll(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      const alive = this.children.filter((c) => c.proc.exitCode === null && c.proc.signalCode === null);
      for (const c of alive) c.proc.kill('SIGTERM');
      const killer = setTimeout(() => alive.forEach((c) => c.proc.kill('SIGKILL')), STOP_GRACE_MS);
      await Promise.all(alive.map((c) => c.exited));
      clearTimeout(killer);
    })();
    return this.stopped;
  }

  /** Waits until no child is left running (restarts add children meanwhile), then stops them all. */
  async waitForAll(): Promise<void> {
    const running = (): Child[] => this.children.filter((c) => !c.done);
    for (let live = running(); live.length > 0; live = running()) {
      if (!this.children.some((c) => c.done === true && c.proc.exitCode === 0)) {
        await Promise.race(live.map((c) => c.exited));
        continue;
      }
      // One process finished the job: the rest get EXIT_GRACE_MS to follow (exit-grace.ts).
      const stuck = await notExitedWithin(live, EXIT_GRACE_MS);
      if (stuck.length === 0) continue;
      const names = stuck.map((c) => `${c.name} (pid ${c.proc.pid})`).join(', ');
      const them = stuck.length === 1 ? 'it' : 'them';
      this.display.line(
        `ringtrain: warning: ${names} did not exit within ${EXIT_GRACE_MS / 1000} s of the job finishing; stopping ${them} (logs in ${this.logDir})`,
      );
      await this.stopAll();
    }
    await this.stopAll();
  }
}
