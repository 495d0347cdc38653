/**
 * Heartbeat leases as a pure check: a member whose last heartbeat is older than the lease is
 * lost. The caller decides what losing a member means (this slice fails the job; elastic
 * membership will re-form the ring instead).
 */
export interface Lease {
  rank: number;
  workerId: string;
  address: string;
  lastSeenMs: number;
}

export function expiredLeases(leases: Lease[], nowMs: number, leaseMs: number): Lease[] {
  return leases.filter((l) => nowMs - l.lastSeenMs > leaseMs);
}

export function describeLost(l: Lease, nowMs: number): string {
  const silent = ((nowMs - l.lastSeenMs) / 1000).toFixed(1);
  return `worker rank ${l.rank} (${l.workerId} at ${l.address}) sent no heartbeat for ${silent} s: it died or is stuck`;
}
