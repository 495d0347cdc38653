/**
 * The CPU-binding flags: `launch --cpu-bind cores` plans each local worker's CPUs before any
 * process starts, and `worker --cpus LIST` binds the worker it starts (see native/cpu-binding.ts
 * for why and how).
 */
import { CPU_BIND_MODES, allowedCpus, coreOrder, planCpuSets } from '../launcher';
import { bindThisProcess, cpuBindingUnavailable, formatCpuList, parseCpuList } from '../native';
import type { Logger } from '../observe';
import { usage, type ParsedArgs } from './args';

/**
 * `launch --nproc N|auto`: auto is one worker per CPU this process may use (its cpuset or
 * taskset), as torchrun's --nproc-per-node auto counts CPUs on a CPU-only host: the wasm
 * backend runs one compute thread per worker. Default 2.
 */
export function nprocOf(args: ParsedArgs, cpus: () => number = () => allowedCpus().length): number {
  const raw = args.flags.get('nproc');
  if (raw === undefined) return 2;
  if (raw === 'auto') return Math.max(1, cpus());
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1024)
    throw usage(
      `--nproc must be an integer in 1..1024 or auto (one worker per CPU this process may use), got '${raw}'`,
    );
  return n;
}

/** `--cpu-bind cores`: each worker's CPU list, checked before any process starts; undefined = no binding. */
export function planLaunchCpus(mode: string | undefined, nproc: number): string[] | undefined {
  if (mode === undefined || mode === 'none') return undefined;
  if (mode !== 'cores') throw usage(`--cpu-bind takes ${CPU_BIND_MODES.join(' or ')}, got '${mode}'`);
  const unavailable = cpuBindingUnavailable();
  if (unavailable !== undefined) throw usage(`--cpu-bind cores: ${unavailable}; or leave out --cpu-bind`);
  try {
    return planCpuSets(nproc, coreOrder(allowedCpus())).map(formatCpuList);
  } catch (e) {
    throw usage((e as Error).message);
  }
}

/** `worker --cpus LIST`: binds this process before anything else starts, and says where it now runs. */
export function bindWorker(list: string | undefined, log: Logger): void {
  if (list === undefined) return;
  let cpus: number[];
  try {
    cpus = parseCpuList(list);
  } catch (e) {
    throw usage(`--cpus '${list}': ${(e as Error).message}; give a list such as 0-3,8`);
  }
  const allowed = allowedCpus();
  const outside = cpus.filter((c) => !allowed.includes(c));
  if (outside.length > 0)
    throw usage(
      `--cpus '${list}': ${outside.length === 1 ? 'CPU' : 'CPUs'} ${formatCpuList(outside)} ${outside.length === 1 ? 'is' : 'are'} not available to this process (it may use ${formatCpuList(allowed)})`,
    );
  let lists: string[];
  try {
    lists = bindThisProcess(cpus);
  } catch (e) {
    throw usage(`--cpus '${list}': ${(e as Error).message}`);
  }
  log.info({ event: 'cpu-binding', cpus: lists.join(' ') }, `bound to CPUs ${lists.join(' ')} (every thread)`);
}
