/**
 * Keeps this worker's lease alive and learns the job's verdict. When the coordinator says the
 * job failed (another rank died, the launcher stopped it), or stays unreachable for a whole
 * lease, `onFatal` fires once so the training loop can abort its pending collectives instead of
 * waiting for their timeouts.
 */
import type { CoordinatorClient } from './coordinator-client';

export interface Progress {
  generation: number;
  step: number;
  epoch: number;
  /** Cumulative busy (data + compute + update) and communication-wait seconds, for straggler detection. */
  busySeconds?: number;
  commSeconds?: number;
}

export class HeartbeatLoop {
  private timer: NodeJS.Timeout | undefined;
  private lastOkMs = Date.now();
  private inFlight = false;
  private fired = false;

  constructor(
    private readonly client: CoordinatorClient,
    private readonly progress: () => Progress,
    private readonly intervalMs: number,
    private readonly leaseMs: number,
    private readonly onFatal: (reason: string) => void,
  ) {}

  start(): void {
    this.lastOkMs = Date.now();
    this.timer = setInterval(() => void this.beat(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async beat(): Promise<void> {
    if (this.inFlight) return;
    this.inFlight = true;
    const p = this.progress();
    try {
      const reply = await this.client.heartbeat(p.generation, p.step, p.epoch, p.busySeconds ?? 0, p.commSeconds ?? 0);
      this.lastOkMs = Date.now();
      if (reply.state === 'FAILED') this.fatal(`the job failed: ${reply.reason}`);
    } catch (e) {
      const silentMs = Date.now() - this.lastOkMs;
      if (silentMs > this.leaseMs) {
        this.fatal(`lost the coordinator at ${this.client.address} for ${(silentMs / 1000).toFixed(1)} s: ${(e as Error).message}`);
      }
    } finally {
      this.inFlight = false;
    }
  }

  private fatal(reason: string): void {
    if (this.fired) return;
    this.fired = true;
    this.stop();
    this.onFatal(reason);
  }
}
