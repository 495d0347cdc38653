/** Small readers the fault tests share: JSON log events, the final accuracy, the processes of a launch. */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

export function logEvents(file: string, event: string): Record<string, unknown>[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes(`"event":"${event}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The last epoch's validation accuracy in a run directory's metrics.jsonl. */
export function finalVal(out: string): number {
  const lines = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { split: string; accuracy: number });
  const val = lines.filter((l) => l.split === 'val');
  return val[val.length - 1]!.accuracy;
}

/** Writes `bytes` to 127.0.0.1:port and closes; resolves when the far end is done with it (bounded). */
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

/** The command line of a process, split at NULs ([] once it is gone). */
export function cmdline(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}
