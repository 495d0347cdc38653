/**
 * `launch --nnodes M --node-rank K --coordinator HOST:PORT [--host ADDR]`: one launcher per
 * machine, as with torchrun's --nnodes/--node-rank/--rdzv-endpoint. Checked here, before any
 * process starts, so a node given half of what it needs says which flag is missing.
 */
import { TOKEN_ENV } from '../config';
import type { NodePlan } from '../launcher';
import { intFlag, usage, type ParsedArgs } from './args';

/** The flags that only mean something with --nnodes > 1. */
const MULTI_NODE_FLAGS = ['node-rank', 'coordinator', 'host'] as const;

/** How many machines the job spans (--nnodes, default 1). */
export function nodeCount(args: ParsedArgs): number {
  return intFlag(args, 'nnodes', 1, 1024) ?? 1;
}

/** This machine's place in the job, or undefined when it runs on this machine alone. */
export function planNodes(args: ParsedArgs, count: number, hasToken: boolean): NodePlan | undefined {
  if (count === 1) {
    const given = MULTI_NODE_FLAGS.filter((f) => args.flags.has(f));
    if (given.length > 0)
      throw usage(
        `${given.map((f) => `--${f}`).join(', ')} ${given.length === 1 ? 'is' : 'are'} for a job on several machines: add --nnodes M (M > 1), or leave ${given.length === 1 ? 'it' : 'them'} out`,
      );
    return undefined;
  }
  const rank = intFlag(args, 'node-rank', 0, count - 1) ?? 0;
  const coordinator = args.flags.get('coordinator') ?? '';
  const m = /^([^:\s]+):(\d+)$/.exec(coordinator);
  if (m === null)
    throw usage(
      `--nnodes ${count} needs --coordinator HOST:PORT, the same on every node (node 0 runs the coordinator there), got '${coordinator}'`,
    );
  const coordinatorHost = m[1] as string;
  const coordinatorPort = Number(m[2]);
  if (coordinatorPort > 65535) throw usage(`--coordinator ${coordinator}: the port must be in 0..65535`);
  if (rank > 0 && coordinatorPort === 0)
    throw usage(
      `--coordinator ${coordinator}: node ${rank} needs the port node 0's coordinator listens on (node 0 prints it)`,
    );
  // Node 0 is reached at the coordinator's address; the others must say where they are.
  const advertise = args.flags.get('host') ?? (rank === 0 ? coordinatorHost : undefined);
  if (advertise === undefined)
    throw usage(`--node-rank ${rank} needs --host ADDR: the address the other nodes reach this machine's workers at`);
  if (!hasToken)
    throw usage(
      `--nnodes ${count}: the nodes must share a join token; set ${TOKEN_ENV} to the same secret on every node (or security.tokenFile in the job file)`,
    );
  return { count, rank, coordinatorHost, coordinatorPort, advertise };
}
