/**
 * `ringtrain launch --cpu-bind cores`: which CPUs each local worker gets. Each worker takes an
 * equal, disjoint share of the CPUs the launcher may use, whole cores first: CPUs are ordered by
 * package and core, so hyperthreads of one core land in the same share, never in two workers'.
 * CPUs left over by an uneven split stay unbound (the coordinator and the launcher run there).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cpusAllowedIn, formatCpuList, parseCpuList } from '../native';

export const CPU_BIND_MODES = ['none', 'cores'] as const;

/** The CPUs this process may run on: its affinity (cgroup cpusets, taskset) where Linux says, else every CPU. */
export function allowedCpus(procStatus = '/proc/self/status'): number[] {
  try {
    const list = cpusAllowedIn(fs.readFileSync(procStatus, 'utf8'));
    if (list !== undefined) return parseCpuList(list);
  } catch {
    // Not Linux, or no /proc: fall through.
  }
  return os.cpus().map((_, i) => i);
}

/** `cpus` ordered by (package, core, cpu) from sysfs topology; unchanged when any CPU has no topology files. */
export function coreOrder(cpus: readonly number[], sysfs = '/sys/devices/system/cpu'): number[] {
  const read = (cpu: number, file: string): number | undefined => {
    try {
      const v = Number(fs.readFileSync(path.join(sysfs, `cpu${cpu}`, 'topology', file), 'utf8').trim());
      return Number.isInteger(v) ? v : undefined;
    } catch {
      return undefined;
    }
  };
  const keyed = cpus.map((cpu) => ({ cpu, pkg: read(cpu, 'physical_package_id'), core: read(cpu, 'core_id') }));
  // One CPU without topology and the order cannot be trusted for any: keep the given one.
  if (keyed.some((k) => k.pkg === undefined || k.core === undefined)) return [...cpus];
  keyed.sort(
    (a, b) => (a.pkg as number) - (b.pkg as number) || (a.core as number) - (b.core as number) || a.cpu - b.cpu,
  );
  return keyed.map((k) => k.cpu);
}

/** Each worker's CPUs: floor(C / nproc) consecutive CPUs of `ordered`; throws when there are fewer CPUs than workers. */
export function planCpuSets(nproc: number, ordered: readonly number[]): number[][] {
  if (nproc > ordered.length) {
    throw new Error(
      `--cpu-bind cores gives every worker a CPU of its own, but ${nproc} workers share ${ordered.length} CPU${ordered.length === 1 ? '' : 's'} (${formatCpuList(ordered)}): lower --nproc or leave out --cpu-bind`,
    );
  }
  const share = Math.floor(ordered.length / nproc);
  return Array.from({ length: nproc }, (_, r) => ordered.slice(r * share, (r + 1) * share));
}
