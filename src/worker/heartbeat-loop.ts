/**
 * Keeps this worker's lease alive and learns the job's verdict. When the coordinator says the
 * job failed (another rank died, the launcher stopped it), or stays unreachable for a whole
 * lease, `onFatal` fires once so the training loop can abort its pending collectives instead of
 * waiting for their timeouts.
 */
import { isRingtrainError } from '../core';
import { systemClock, type Clock } from './clock';
import type { CoordinatorClient } from './coordinator-client';

export interface Progress {
  generation: number;
  step: number;
  epoch: number;
  /** Cumulative busy (data + compute + update) and communication-wait seconds, for straggler detection. */
  busySeconds?: number;
  commSeconds?: number;
  /** Ring neighbours whose connection this worker lost: a fast hint to the coordinator. */
  suspects?: number[];
}

export interface HeartbeatHandlers {
  /** The job failed (another rank, the launcher), or the coordinator stayed away too long. */
  onFatal: (reason: string) => void;
  /**
   * The ring is re-forming (a member was lost or replaced, or the coordinator restarted and does
   * not know us): abandon the current generation and join again. Absent = treat as fatal.
   */
  onRendezvous?: (reason: string) => void;
  /**
   * The coordinator has not answered for `lostMs` (a lease): it may be hung rather than gone, so
   * whoever runs it can replace it. Once per silence; training goes on meanwhile.
   */
  onCoordinatorLost?: { lostMs: number; call: (reason: string) => void };
}

export class HeartbeatLoop {
  private timer: NodeJS.Timeout | undefined;
  private lastOkMs: number;
  private inFlight: Promise<void> | undefined;
  private fired = false;
  private rendezvousSignalled = false;
  private lostSignalled = false;

  constructor(
    private readonly client: CoordinatorClient,
    private readonly progress: () => Progress,
    private readonly intervalMs: number,
    /** How long the coordinator may stay unreachable before this worker gives up. */
    private readonly graceMs: number,
    private readonly handlers: HeartbeatHandlers,
    private readonly clock: Clock = systemClock,
  ) {
    this.lastOkMs = clock.ms();
  }

  start(): void {
    this.lastOkMs = this.clock.ms();
    this.rendezvousSignalled = false;
    this.timer ??= setInterval(() => void this.beat(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A heartbeat now (after a broken collective, to report suspects without waiting). */
  beat(): Promise<void> {
    this.inFlight ??= this.once().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async once(): Promise<void> {
    const p = this.progress();
    try {
      const reply = await this.client.heartbeat(
        p.generation,
        p.step,
        p.epoch,
        p.busySeconds ?? 0,
        p.commSeconds ?? 0,
        p.suspects ?? [],
      );
      this.lastOkMs = this.clock.ms();
      this.lostSignalled = false;
      if (reply.state === 'FAILED') this.fatal(`the job failed: ${reply.reason}`);
      else if (reply.state === 'RENDEZVOUS')
        this.rendezvous(`the ring is re-forming after generation ${reply.generation}`);
    } catch (e) {
      if (isRingtrainError(e) && e.code === 'NOT_MEMBER') {
        this.lastOkMs = this.clock.ms();
        this.rendezvous(e.message);
        return;
      }
      const silentMs = this.clock.ms() - this.lastOkMs;
      const lost = this.handlers.onCoordinatorLost;
      if (lost !== undefined && !this.lostSignalled && silentMs > lost.lostMs) {
        this.lostSignalled = true;
        lost.call(
          `the coordinator at ${this.client.address} has not answered for ${(silentMs / 1000).toFixed(1)} s: ${(e as Error).message}`,
        );
      }
      if (silentMs > this.graceMs) {
        this.fatal(
          `lost the coordinator at ${this.client.address} for ${(silentMs / 1000).toFixed(1)} s: ${(e as Error).message}`,
        );
      }
    }
  }

  private rendezvous(reason: string): void {
    if (this.fired || this.rendezvousSignalled) return;
    if (this.handlers.onRendezvous === undefined) {
      this.fatal(reason);
      return;
    }
    this.rendezvousSignalled = true;
    this.handlers.onRendezvous(reason);
  }

  private fatal(reason: string): void {
    if (this.fired) return;
    this.fired = true;
    this.stop();
    this.handlers.onFatal(reason);
  }
}
