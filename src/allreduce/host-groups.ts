/**
 * Which ranks of a ring share a host, from the ring's addresses alone: every rank sees the same
 * addresses, so every rank computes the same groups without a message. A hierarchical
 * all-reduce (allreduce-hierarchical.ts) sums inside each group first.
 */
import { splitAddress } from './shm-segment';

/** Each rank's host: its ring address without the port. */
export function hostsOf(addresses: readonly string[]): string[] {
  return addresses.map((a) => splitAddress(a).host);
}

/** Ranks grouped by host, each group in rank order, groups in the order of their lowest rank. */
export function hostGroups(hosts: readonly string[]): number[][] {
  const byHost = new Map<string, number[]>();
  hosts.forEach((h, rank) => {
    const g = byHost.get(h);
    if (g === undefined) byHost.set(h, [rank]);
    else g.push(rank);
  });
  return [...byHost.values()];
}

/**
 * Whether a hierarchy pays and is built here: several hosts, at least one with two ranks, and
 * none with more (the shared file of shm-pair.ts joins two ranks; larger groups take the ring).
 */
export function hierarchyFits(groups: readonly (readonly number[])[]): boolean {
  return groups.length >= 2 && groups.some((g) => g.length === 2) && groups.every((g) => g.length <= 2);
}
