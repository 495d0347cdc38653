/**
 * Whether a ring of two ranks may sum through one shared file (shm-pair.ts), whichever
 * transport carries its messages: as NCCL and MPI choose shared memory inside a node whatever
 * the network between nodes, the file is about where the two ranks run, not about the wire.
 * Both transports ask the same question, so the answer cannot drift between them.
 */
import * as os from 'node:os';
import { hostsOf } from './host-groups';
import { pollsHere } from './tcp-shared-links';
import { sameHostRanks } from './shm-segment';
import type { HostPairs, RingIdentity, SharedPairSetup } from './transport';

export interface PairConditions {
  ring: RingIdentity;
  /** Every rank's ring address (host:port). */
  addresses: readonly string[];
  /** The file's size in bytes (cluster.sharedMemoryMb); 0 = no file. */
  bytes: number;
  dir?: string;
  /** How long a wait polls before it lets the event loop run between polls (microseconds; 0 = never, so no file). */
  pollMicros: number;
  /** This worker is bound to CPUs of its own, so polling takes no other rank's CPU. */
  ownCpus: boolean;
  /** TLS was asked for: the bytes stay on the encrypted wire, never in a file. */
  tls: boolean;
  timeoutMs: number;
  /** The peer, as errors name it. */
  who: (rank: number) => string;
  /** Why the ring's generation was torn down, if it was. */
  abortedIn: (generation: number) => Error | undefined;
}

/**
 * Two ranks, both on this host, that may share memory (no TLS, a file size, polling): what both
 * ranks decide alike from the job's settings and the ring's addresses.
 */
export function pairCandidate(c: PairConditions): boolean {
  return c.ring.worldSize === 2 && c.bytes > 0 && !c.tls && c.pollMicros > 0 && sameHostRanks(c.addresses) === 2;
}

/**
 * A pair candidate whose rank may poll here (pollsHere: its own CPU): the setup of its file;
 * else undefined. Whether both can map it is settled by the Communicator's handshake.
 */
export function sharedPairSetup(c: PairConditions): SharedPairSetup | undefined {
  if (!pairCandidate(c) || !pollsHere(2, os.availableParallelism(), c.ownCpus)) return undefined;
  const generation = c.ring.generation;
  return {
    bytes: c.bytes,
    dir: c.dir,
    spinMs: c.pollMicros / 1000,
    timeoutMs: c.timeoutMs,
    peer: c.who(1 - c.ring.rank),
    aborted: () => c.abortedIn(generation),
  };
}

/**
 * For a transport that reaches any rank: same-host pairs of a larger ring may share a file
 * (allreduce-hierarchical.ts), under the job settings a two-rank pair needs; undefined when they
 * forbid it. A rank declines where its host's ranks outnumber the CPUs they may poll on.
 */
export function hostPairs(c: PairConditions): HostPairs | undefined {
  if (c.bytes <= 0 || c.tls || c.pollMicros <= 0) return undefined;
  const hosts = hostsOf(c.addresses);
  const here = hosts.filter((h) => h === hosts[c.ring.rank]).length;
  const generation = c.ring.generation;
  return {
    hosts,
    setup: (peer) =>
      pollsHere(here, os.availableParallelism(), c.ownCpus)
        ? {
            bytes: c.bytes,
            dir: c.dir,
            spinMs: c.pollMicros / 1000,
            timeoutMs: c.timeoutMs,
            peer: c.who(peer),
            aborted: () => c.abortedIn(generation),
          }
        : undefined,
  };
}
