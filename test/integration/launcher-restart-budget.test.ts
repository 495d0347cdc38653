/**
 * The launcher's restart budget with real child processes running a stand-in entry (no
 * training): a worker killed once more than cluster.maxRestarts allows fails the job, and the
 * launcher says the budget is why.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_JOB } from '../../src/config';
import { launch } from '../../src/launcher';

const ENTRY = `
if (process.argv[2] === 'coordinator') process.send({ kind: 'listening', grpcPort: 1, metricsPort: 2 });
setInterval(() => undefined, 1000);
process.on('SIGTERM', () => process.exit(0));
`;

/** Pids of this process's children running the stand-in as a worker. */
function workers(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return ppid === process.pid && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('worker');
      } catch {
        return false;
      }
    })
    .map(Number);
}

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
    assert.match(text, new RegExp(`rank 0 \\(pid ${first}\\) was killed by SIGKILL; restarting it \\(restart 1 of 1\\)`));
    assert.match(text, new RegExp(`ringtrain: error: rank 0 \\(pid ${second}\\) was killed by SIGKILL \\(no restarts left: 1 of cluster\\.maxRestarts=1 used\\); stopped the other processes`));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
