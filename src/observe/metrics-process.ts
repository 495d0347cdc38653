/**
 * prom-client's default process and Node.js series (process_cpu_seconds_total,
 * process_resident_memory_bytes, nodejs_eventloop_lag_seconds, nodejs_gc_duration_seconds,
 * nodejs_heap_*): what a worker costs its node, and the GC pauses and event-loop lag that stall
 * every rank at the next all-reduce. Registered once per process on the registry given, which
 * then carries the rank as a default label like the ringtrain series.
 */
import { collectDefaultMetrics, type Registry } from 'prom-client';

export function createProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
}
