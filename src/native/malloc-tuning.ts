/**
 * glibc malloc settings for worker processes: freed memory is kept for reuse rather than given
 * back to the kernel after each burst of messages (native/malloc-tuning.cc has the measurements).
 * Applied from inside the process, so workers started by `launch`, by Kubernetes or by hand all
 * get them. A worker's environment can still decide: RINGTRAIN_MALLOC=default keeps glibc's
 * defaults, and glibc's own MALLOC_*_ variables, when set, are left to rule.
 */
import { nativeMallocTuning } from './addon';

export const WORKER_MALLOC = {
  /** Blocks below this come from the heap and are reused, not mmap'd and unmapped one by one. */
  mmapThreshold: 32 * 2 ** 20,
  /** Free memory at the heap's top is given back only above this. */
  trimThreshold: 256 * 2 ** 20,
  /** The heap grows by this much more than asked, so the next burst does not fault it in again. */
  topPad: 64 * 2 ** 20,
};

const GLIBC_VARIABLES = ['MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'MALLOC_TOP_PAD_'];

/** Applies WORKER_MALLOC to this process unless the environment says otherwise; says what it did, for the log. */
export function retainFreedMemory(env: NodeJS.ProcessEnv = process.env): { applied: boolean; note: string } {
  if (env.RINGTRAIN_MALLOC === 'default')
    return { applied: false, note: "glibc's defaults (RINGTRAIN_MALLOC=default)" };
  const own = GLIBC_VARIABLES.filter((k) => env[k] !== undefined);
  if (own.length > 0) return { applied: false, note: `as the environment's ${own.join(', ')} set it` };
  const tuning = nativeMallocTuning();
  if (tuning.retain === undefined)
    return { applied: false, note: `glibc's defaults (${tuning.why ?? 'no native addon'})` };
  const why = tuning.retain(WORKER_MALLOC.mmapThreshold, WORKER_MALLOC.trimThreshold, WORKER_MALLOC.topPad);
  if (why !== '') return { applied: false, note: `glibc's defaults (${why})` };
  const mib = (bytes: number): string => `${bytes / 2 ** 20} MiB`;
  return {
    applied: true,
    note: `freed memory kept for reuse (mmap threshold ${mib(WORKER_MALLOC.mmapThreshold)}, trim threshold ${mib(WORKER_MALLOC.trimThreshold)}, top pad ${mib(WORKER_MALLOC.topPad)})`,
  };
}
