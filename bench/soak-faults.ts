/**
 * The soak bench's fault injectors: each finds its target among the processes and ports of a
 * running `launch` (from /proc and the run's JSON logs) and breaks it once. Used only by
 * soak.ts; nothing here is a test.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { childPids, isAlive } from './proc-tools';

export { childPids, isAlive } from './proc-tools';

export type FaultKind =
  'kill-worker' | 'stop-worker' | 'kill-coordinator' | 'stop-coordinator' | 'garbage' | 'disk-full';

function role(pid: number): 'coordinator' | 'worker' | undefined {
  try {
    const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.includes('coordinator') ? 'coordinator' : args.includes('worker') ? 'worker' : undefined;
  } catch {
    return undefined;
  }
}

function logEvents(file: string, event: string): Record<string, unknown>[] {
  if (!fs.existsSync(file)) return [];
  const out: Record<string, unknown>[] = [];
  for (const l of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!l.includes(`"event":"${event}"`)) continue;
    try {
      out.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      // A line cut by a full disk.
    }
  }
  return out;
}

/** Every port the job listens on now: the coordinator's gRPC and metrics ports, each worker's ring and metrics port. */
export function jobPorts(out: string): number[] {
  const logs = path.join(out, 'logs');
  const ports = new Set<number>();
  const listening = logEvents(path.join(logs, 'coordinator.log'), 'listening').at(-1);
  for (const k of ['grpcPort', 'metricsPort'])
    if (typeof listening?.[k] === 'number') ports.add(listening[k] as number);
  const ring = logEvents(path.join(logs, 'coordinator.log'), 'ring-formed').at(-1)?.ring as
    { address: string }[] | undefined;
  for (const p of ring ?? []) ports.add(Number(p.address.split(':').pop()));
  for (const f of fs.existsSync(logs) ? fs.readdirSync(logs) : []) {
    const url = logEvents(path.join(logs, f), 'joined').at(-1)?.metricsUrl;
    if (typeof url === 'string') ports.add(Number(/:(\d+)\//.exec(url)?.[1]));
  }
  return [...ports].filter((p) => Number.isInteger(p) && p > 0);
}

export interface Target {
  pid: number;
  role: 'coordinator' | 'worker';
}

/** The launcher's live coordinator and workers. */
export function targets(launcherPid: number): Target[] {
  return childPids(launcherPid)
    .map((pid) => ({ pid, role: role(pid) }))
    .filter((t): t is Target => t.role !== undefined && isAlive(t.pid));
}
