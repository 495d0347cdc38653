/**
 * The worker's ring-link metrics across generations: ringtrain_ring_link_info names the path
 * this rank's payloads take to its successor (grpc, socket, shared memory or a shared file), and
 * the count of refused ring traffic carries over from one generation's registry to the next.
 */
import type { WorkerMetrics } from '../observe';

export class RingLinkGauge {
  /** This generation's gauge (metrics start over with each generation). */
  private link: WorkerMetrics['ringLink'] | undefined;
  /** Refusals over the whole run: each generation's registry starts its counter from here. */
  private refused = 0;
  private refusedCounter: WorkerMetrics['ringRefused'] | undefined;
  /** This generation's pair sums through a shared file: a later transport note must not hide that. */
  private sharedFile = false;

  /** Ring traffic was refused. */
  refusedOne(): void {
    this.refused += 1;
    this.refusedCounter?.inc();
  }

  /** A new generation's metrics: the link starts as the transport's own path to `successor`. */
  startGeneration(metrics: WorkerMetrics, successor: number | undefined, path: string): void {
    this.refusedCounter = metrics.ringRefused;
    metrics.ringRefused.inc(this.refused);
    this.link = metrics.ringLink;
    this.sharedFile = false;
    if (successor !== undefined) this.link.set({ peer: String(successor), path }, 1);
  }

  /** The transport's link to `to` settled (a tcp link may switch to shared memory once it has answered). */
  transportPath(to: number, shared: boolean): void {
    if (this.sharedFile) return;
    this.link?.reset();
    this.link?.set({ peer: String(to), path: shared ? 'shared-memory' : 'socket' }, 1);
  }

  /** The pair's all-reduces bypass the transport through a shared file: the metric says so, as the log does. */
  sharedFilePath(successor: number): void {
    this.sharedFile = true;
    this.link?.reset();
    this.link?.set({ peer: String(successor), path: 'shared-file' }, 1);
  }
}
