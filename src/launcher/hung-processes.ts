/**
 * A hung process (SIGSTOP, a deadlock, a swap storm) never exits, so a restart policy that waits
 * for exits never replaces it. As torchrun's agent does, the launcher acts on what the job
 * itself decided: the coordinator names each worker it declared lost, and the workers say when
 * the coordinator stopped answering for a lease. The launcher kills that process; its exit then
 * goes through the ordinary restart policy.
 */

/** What the launcher knows of one of its children. */
export interface Supervised {
  name: string;
  proc: { pid?: number };
  done?: boolean;
}

/** A child to kill, and the sentence that says why. */
export interface HungVerdict<T extends Supervised> {
  child: T;
  why: string;
}

interface LostMessage {
  kind?: unknown;
  workerId?: unknown;
  reason?: unknown;
}

/**
 * The child a message from `from` declares lost, or undefined: 'worker-lost' comes from the
 * coordinator and names a worker id (`<host>-<pid>`, run-worker's), 'coordinator-lost' from a
 * worker. Only live children of this host are named, and never the sender.
 */
export function hungTarget<T extends Supervised>(
  from: T,
  message: unknown,
  children: readonly T[],
  hostname: string,
): HungVerdict<T> | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const m = message as LostMessage;
  const reason = typeof m.reason === 'string' ? m.reason : 'no reason given';
  const live = children.filter((c) => c.done !== true && c !== from);
  if (m.kind === 'worker-lost' && from.name === 'coordinator' && typeof m.workerId === 'string') {
    const prefix = `${hostname}-`;
    if (!m.workerId.startsWith(prefix)) return undefined;
    const pid = Number(m.workerId.slice(prefix.length));
    const child = live.find((c) => c.proc.pid === pid && c.name !== 'coordinator');
    return child === undefined
      ? undefined
      : { child, why: `the coordinator declared ${child.name} (pid ${pid}) lost: ${reason}` };
  }
  if (m.kind === 'coordinator-lost' && from.name !== 'coordinator') {
    const child = live.find((c) => c.name === 'coordinator');
    return child === undefined
      ? undefined
      : { child, why: `${from.name} lost the coordinator (pid ${child.proc.pid ?? '?'}): ${reason}` };
  }
  return undefined;
}
