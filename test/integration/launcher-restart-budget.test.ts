/**
 * The launcher's restart budget with real child processes running a stand-in entry (no
 * training): a worker killed once more than cluster.maxRestarts allows fails the job, and the
 * launcher says the budget is why; on a ring allowed to shrink such a worker is left out instead
 * (also at once with cluster.restartWorkers false), and the job goes on with the others.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_JOB } from '../../src/config';
import { launch } from '../../src/launcher';

// The stand-in coordinator declares the worker whose pid is in LOST_FILE lost on SIGUSR2, as the
// real one does (IPC 'worker-lost' with the worker id <host>-<pid>).
const ENTRY = `
const fs = require('node:fs');
const os = require('node:os');
if (process.argv[2] === 'coordinator') {
  process.send({ kind: 'listening', grpcPort: 1, metricsPort: 2 });
  process.on('SIGUSR2', () => {
    const pid = fs.readFileSync(process.env.LOST_FILE, 'utf8');
    process.send({ kind: 'worker-lost', workerId: os.hostname() + '-' + pid, rank: 2, reason: 'sent no heartbeat for 3.0 s' });
  });
}
setInterval(() => undefined, 1000);
process.on('SIGTERM', () => process.exit(0));
`;

/** Pids of this process's children running the stand-in as `role`. */
function children(role: 'worker' | 'coordinator' = 'worker'): number[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        // A zombie (state Z) has exited and waits for the launcher to reap it.
        return (
          fields[0] !== 'Z' &&
          Number(fields[1]) === process.pid &&
          fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(role)
        );
      } catch {
        return false;
      }
    })
    .map(Number);
}
const workers = (): number[] => children('worker');

async function nextWorker(not: number[]): Promise<number> {
  const until = Date.now() + 20_000;
  for (;;) {
    const w = workers().find((p) => !not.includes(p));
    if (w !== undefined) return w;
    if (Date.now() > until) throw new Error('no worker started within 20 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a worker killed once more than maxRestarts allows fails the job, and the launcher says the budget is spent', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-budget-'));
  const entry = path.join(dir, 'entry.js');
  fs.writeFileSync(entry, ENTRY);
  const lines: string[] = [];
  try {
    const spec = { ...DEFAULT_JOB, cluster: { ...DEFAULT_JOB.cluster, worldSize: 1, maxRestarts: 1 } };
    const result = launch({ spec, nproc: 1, outDir: path.join(dir, 'run'), entry, print: (l) => lines.push(l) });
    const first = await nextWorker([]);
    process.kill(first, 'SIGKILL');
    const second = await nextWorker([first]);
    process.kill(second, 'SIGKILL');
    assert.equal(await result, 1);
    const text = lines.join('\n');
    assert.match(
      text,
      new RegExp(`rank 0 \\(pid ${first}\\) was killed by SIGKILL; restarting it \\(restart 1 of 1\\)`),
    );
    assert.match(
      text,
      new RegExp(
        `ringtrain: error: rank 0 \\(pid ${second}\\) was killed by SIGKILL \\(no restarts left: 1 of cluster\\.maxRestarts=1 used\\); stopped the other processes`,
      ),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** Waits until `lines` has one matching `re`. */
async function lineMatching(lines: string[], re: RegExp): Promise<void> {
  const until = Date.now() + 20_000;
  while (!lines.some((l) => re.test(l))) {
    if (Date.now() > until) throw new Error(`no line matching ${re} within 20 s:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A launch of 3 stand-in workers with these cluster settings; `finish` stops every child with SIGTERM (they exit 0). */
async function threeWorkers(cluster: Partial<typeof DEFAULT_JOB.cluster>) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-leave-out-'));
  const entry = path.join(dir, 'entry.js');
  fs.writeFileSync(entry, ENTRY);
  process.env.LOST_FILE = path.join(dir, 'lost');
  const lines: string[] = [];
  const spec = {
    ...DEFAULT_JOB,
    cluster: { ...DEFAULT_JOB.cluster, worldSize: 3, minWorkers: 2, maxRestarts: 1, ...cluster },
  };
  const result = launch({ spec, nproc: 3, outDir: path.join(dir, 'run'), entry, print: (l) => lines.push(l) });
  const until = Date.now() + 20_000;
  while (workers().length < 3 || children('coordinator').length < 1) {
    if (Date.now() > until) throw new Error('the stand-in children did not start within 20 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  const finish = async (): Promise<number> => {
    for (const pid of [...children('coordinator'), ...workers()]) process.kill(pid, 'SIGTERM');
    return result;
  };
  return { dir, lines, result, finish };
}

test('restartWorkers false: a hung worker the coordinator declared lost is killed and left out; the others go on and the job ends well', async () => {
  const run = await threeWorkers({ restartWorkers: false });
  try {
    const [hung, ...others] = workers();
    process.kill(hung!, 'SIGSTOP');
    fs.writeFileSync(process.env.LOST_FILE ?? '', String(hung));
    process.kill(children('coordinator')[0]!, 'SIGUSR2');
    await lineMatching(run.lines, /not restarting it/);
    const text = run.lines.join('\n');
    assert.match(
      text,
      new RegExp(
        `the coordinator declared rank \\d \\(pid ${hung}\\) lost: sent no heartbeat for 3\\.0 s; killing it \\(cluster\\.restartWorkers=false; the ring goes on without it \\(cluster\\.minWorkers=2\\)\\)`,
      ),
    );
    assert.match(
      text,
      new RegExp(
        `rank \\d \\(pid ${hung}\\) was killed by SIGKILL; not restarting it \\(cluster\\.restartWorkers=false; the ring goes on without it`,
      ),
    );
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(workers().sort(), others.sort(), 'no worker started in its place');
    assert.equal(await run.finish(), 0, run.lines.join('\n'));
    assert.doesNotMatch(run.lines.join('\n'), /restarting it \(restart|error/);
  } finally {
    fs.rmSync(run.dir, { recursive: true, force: true });
  }
});

test('a ring allowed to shrink: a worker killed with the budget spent is left out instead of failing the job', async () => {
  const run = await threeWorkers({});
  try {
    const first = workers()[0]!;
    process.kill(first, 'SIGKILL');
    await lineMatching(run.lines, /restarting it \(restart 1 of 1\)/);
    const second = workers().find((p) => p !== first)!;
    process.kill(second, 'SIGKILL');
    await lineMatching(run.lines, /not restarting it/);
    assert.match(
      run.lines.join('\n'),
      new RegExp(
        `rank \\d \\(pid ${second}\\) was killed by SIGKILL; not restarting it \\(no restarts left: 1 of cluster\\.maxRestarts=1 used; the ring goes on without it \\(cluster\\.minWorkers=2\\)\\)`,
      ),
    );
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(workers().length, 2);
    assert.equal(await run.finish(), 0, run.lines.join('\n'));
  } finally {
    fs.rmSync(run.dir, { recursive: true, force: true });
  }
});
