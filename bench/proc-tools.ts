/**
 * Process and socket helpers the fault benchmarks and the e2e tests share: a job's processes
 * found through /proc, and a stranger's bytes sent to a port.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';

/** Child pids of `pid` (Linux /proc). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch {
      // Gone while we looked.
    }
  }
  return out;
}

/** True while `pid` runs (a zombie counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

/** Writes `bytes` to 127.0.0.1:port and closes; resolves when the far end is done with it (at most 3 s). */
export function sendGarbage(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.end(bytes));
    const done = (): void => {
      s.destroy();
      resolve();
    };
    s.on('error', done);
    s.on('close', done);
    s.on('data', () => undefined);
    setTimeout(done, 3000).unref();
  });
}
