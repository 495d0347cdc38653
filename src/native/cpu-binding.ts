/**
 * Binding a process to CPUs, as `taskset -a` or `mpirun --bind-to core` do: `ringtrain launch`
 * gives each local worker its own share of the machine's CPUs, and `ringtrain worker --cpus`
 * takes one by hand.
 *
 * Why: a synchronous data-parallel step waits for the slowest rank, and the kernel's scheduler
 * moves busy processes between CPUs and now and then stacks two workers on one while another
 * CPU idles, so one rank runs at half speed for a while and every rank waits for it. Bound, each
 * worker keeps its core (and its caches).
 *
 * Linux only (sched_setaffinity through the native addon); elsewhere there is nothing to bind.
 */
import * as fs from 'node:fs';
import { nativeCpuBinding } from './addon';

/** CPU numbers from a Linux CPU list such as `0-3,8,10-11` (the format of taskset -c and of /proc). */
export function parseCpuList(text: string): number[] {
  const cpus = new Set<number>();
  const trimmed = text.trim();
  if (trimmed === '') throw new Error('the CPU list is empty');
  for (const part of trimmed.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (m === null) throw new Error(`'${part}' is not a CPU number or a range like 2-5`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new Error(`the range '${part}' runs backwards`);
    if (hi > 4095) throw new Error(`CPU ${hi} is beyond the largest CPU number Linux supports (4095)`);
    for (let c = lo; c <= hi; c++) cpus.add(c);
  }
  return [...cpus].sort((a, b) => a - b);
}

/** The shortest Linux CPU list for `cpus`: runs of consecutive numbers become ranges. */
export function formatCpuList(cpus: readonly number[]): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && (sorted[j + 1] as number) === (sorted[j] as number) + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** The CPU list of a /proc/<pid>/status (or task status) text: the CPUs that task may run on. */
export function cpusAllowedIn(status: string): string | undefined {
  return /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1];
}

/** The binder, or why this process cannot bind itself. */
function binder(): { bind?: (cpus: number[]) => string; why?: string } {
  if (process.platform !== 'linux') return { why: `CPU binding needs Linux (this is ${process.platform})` };
  const b = nativeCpuBinding();
  return b.bind !== undefined ? b : { why: `CPU binding needs the native addon: ${b.why ?? 'it is not built'}` };
}

/** Whether this process can bind itself; undefined when it can, else why not. */
export function cpuBindingUnavailable(): string | undefined {
  return binder().why;
}

/**
 * Binds every thread of this process to `cpus` and reads the binding back from the kernel.
 * Returns the CPU lists the threads now have (one entry when all agree), or throws with why not.
 */
export function bindThisProcess(cpus: readonly number[]): string[] {
  const { bind, why } = binder();
  if (bind === undefined) throw new Error(why);
  const failed = bind([...cpus]);
  if (failed !== '') throw new Error(`cannot bind to CPUs ${formatCpuList(cpus)}: ${failed}`);
  return threadCpuLists();
}

/** The distinct CPU lists the threads of this process may run on, as the kernel reports them. */
export function threadCpuLists(pid: number | 'self' = 'self'): string[] {
  const lists = new Set<string>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    let status: string;
    try {
      status = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    } catch {
      continue; // the thread exited since the listing
    }
    const list = cpusAllowedIn(status);
    if (list !== undefined) lists.add(list);
  }
  return [...lists];
}
