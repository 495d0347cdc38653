/** Small readers the fault tests share: JSON log events, the final accuracy, the processes of a launch. */
import * as fs from 'node:fs';
import * as path from 'node:path';

export { sendGarbage } from '../../bench/proc-tools';

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
  const lines = fs
    .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { split: string; accuracy: number });
  const val = lines.filter((l) => l.split === 'val');
  return val[val.length - 1]!.accuracy;
}

/** The command line of a process, split at NULs ([] once it is gone). */
export function cmdline(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}
