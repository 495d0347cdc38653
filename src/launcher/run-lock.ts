/**
 * One launch per run directory. Two launches into one --out used to mix silently: the first
 * job's processes read the second's job.json, and logs, metrics and checkpoints interleaved. The
 * launcher holds `.ringtrain.lock` (created exclusively) for as long as it runs; a second launch
 * is refused naming the holder. A lock whose holder is gone (a SIGKILLed launcher) is taken
 * over: on Linux the holder is matched by pid and process start time, so a reused pid does not
 * count as the holder.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFailed, RingtrainError } from '../core';

export const LOCK_FILE = '.ringtrain.lock';

interface Holder {
  pid: number;
  host: string;
  /** Process start time in clock ticks since boot (/proc/PID/stat field 22); '' where unknown. */
  start: string;
  since: string;
}

function startOf(pid: number): string {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Field 3 after the name is the state; Z is a zombie, already gone.
    return fields[0] === 'Z' ? '' : (fields[19] ?? '');
  } catch {
    return '';
  }
}

function alive(h: Holder): boolean {
  if (h.host !== os.hostname()) return true;
  try {
    process.kill(h.pid, 0);
  } catch {
    return false;
  }
  // Without /proc, a live pid is all there is to go on.
  if (!fs.existsSync('/proc/self/stat')) return true;
  const start = startOf(h.pid);
  return start !== '' && (h.start === '' || start === h.start);
}

function readHolder(file: string): Holder | undefined {
  try {
    const h = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Holder>;
    return typeof h.pid === 'number' && typeof h.host === 'string'
      ? { pid: h.pid, host: h.host, start: h.start ?? '', since: h.since ?? '?' }
      : undefined;
  } catch {
    // Half-written by a launcher killed while creating it: nobody holds it.
    return undefined;
  }
}

/** Takes the run directory's lock or throws naming its holder; returns the release. */
export function lockRunDir(dir: string): () => void {
  const file = path.join(dir, LOCK_FILE);
  const me: Holder = {
    pid: process.pid,
    host: os.hostname(),
    start: startOf(process.pid),
    since: new Date().toISOString(),
  };
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify(me), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw writeFailed(file, e);
    }
    const holder = readHolder(file);
    if (holder !== undefined && alive(holder)) {
      throw new RingtrainError(
        'CONFIG_INVALID',
        `run directory ${dir} is in use by another launch (pid ${holder.pid} on ${holder.host}, since ${holder.since}): give this run its own --out, or wait for that one to finish`,
      );
    }
    // Its holder is gone: take it over (one retry, so two launches racing for it cannot both win).
    fs.rmSync(file, { force: true });
  }
  return () => {
    if (readHolder(file)?.pid === process.pid) fs.rmSync(file, { force: true });
  };
}
