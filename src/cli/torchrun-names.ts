/**
 * torchrun's and Kubeflow PyTorchJob's names for what ringtrain already does, so a script or a
 * pod spec written for them works here: `launch --nproc-per-node` and `--max-restarts`, and a
 * worker's WORLD_SIZE, MASTER_ADDR and MASTER_PORT. docs/kubernetes.md has the whole table.
 */
import { usage, type ParsedArgs } from './args';

/** Flags `launch` takes under torchrun's spelling. */
export const TORCHRUN_FLAGS = ['nproc-per-node', 'max-restarts'] as const;

/**
 * Folds torchrun's flags into ringtrain's: --nproc-per-node is --nproc, --max-restarts N is
 * --set cluster.maxRestarts=N (applied after the other --set values, as the more specific).
 */
export function foldTorchrunFlags(args: ParsedArgs): ParsedArgs {
  const flags = new Map(args.flags);
  const perNode = flags.get('nproc-per-node');
  if (perNode !== undefined) {
    if (flags.has('nproc'))
      throw usage(
        `--nproc ${flags.get('nproc') ?? ''} and --nproc-per-node ${perNode} both given: they are the same option, keep one`,
      );
    flags.set('nproc', perNode);
    flags.delete('nproc-per-node');
  }
  const restarts = flags.get('max-restarts');
  const sets = [...args.sets];
  if (restarts !== undefined) {
    const n = Number(restarts);
    if (!Number.isInteger(n) || n < 0 || n > 1000)
      throw usage(`--max-restarts must be an integer in 0..1000, got '${restarts}'`);
    sets.push(`cluster.maxRestarts=${n}`);
    flags.delete('max-restarts');
  }
  return { positional: args.positional, flags, sets };
}

/**
 * The coordinator a worker dials: --coordinator, else RINGTRAIN_COORDINATOR, else torch's
 * MASTER_ADDR:MASTER_PORT (what a PyTorchJob sets in every pod).
 */
export function coordinatorOf(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const given = flag ?? env.RINGTRAIN_COORDINATOR;
  if (given === undefined && (env.MASTER_ADDR !== undefined || env.MASTER_PORT !== undefined)) {
    if (!env.MASTER_ADDR || !env.MASTER_PORT)
      throw usage(
        `MASTER_ADDR='${env.MASTER_ADDR ?? ''}' and MASTER_PORT='${env.MASTER_PORT ?? ''}': set both (the coordinator's host and port), or RINGTRAIN_COORDINATOR=HOST:PORT`,
      );
    return checkAddress(`${env.MASTER_ADDR}:${env.MASTER_PORT}`, 'MASTER_ADDR:MASTER_PORT');
  }
  return checkAddress(given ?? '', '--coordinator or RINGTRAIN_COORDINATOR');
}

function checkAddress(address: string, from: string): string {
  if (!/^[^:\s]+:\d+$/.test(address))
    throw usage(
      `worker needs the coordinator as HOST:PORT (--coordinator, RINGTRAIN_COORDINATOR, or MASTER_ADDR and MASTER_PORT), got '${address}' from ${from}`,
    );
  return address;
}

/**
 * WORLD_SIZE, when set, is the world the worker expects (cluster.worldSize), as torch's env://
 * reads it: over the job file and RINGTRAIN_SET (launch sets WORLD_SIZE for its workers, whatever
 * RINGTRAIN_SET they inherit), while a --set of cluster.worldSize that disagrees is refused.
 */
export function worldSizeSets(env: NodeJS.ProcessEnv, sets: readonly string[]): string[] {
  const raw = env.WORLD_SIZE;
  if (raw === undefined || raw === '') return [...sets];
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 4096) throw usage(`WORLD_SIZE must be an integer in 1..4096, got '${raw}'`);
  const explicit = sets.filter((s) => s.startsWith('cluster.worldSize=')).at(-1);
  if (explicit !== undefined && Number(explicit.slice('cluster.worldSize='.length)) !== n) {
    throw usage(`WORLD_SIZE=${n} but ${explicit} was set too: they must agree (drop one)`);
  }
  return [`cluster.worldSize=${n}`, ...sets];
}
