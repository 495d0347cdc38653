/** What starts a worker process (the CLI's `worker` command and launch build these). */
import type { JobSpec } from '../config';
import type { TlsFiles } from '../config';
import type { Logger } from '../observe';
import type { loadDataset } from '../data';
import type { Clock } from './clock';
import type { TierUpStop } from './jit-tiering';

export interface WorkerOptions {
  spec: JobSpec;
  /** host:port of the coordinator. */
  coordinator: string;
  workerId: string;
  /** Requested rank (RANK, JOB_COMPLETION_INDEX) or -1. */
  rankHint: number;
  /** Host name or IP that ring neighbours can dial. */
  advertiseHost: string;
  /** Interface the ring server binds to. */
  bindHost: string;
  outDir: string;
  /** Checkpoint, checkpoint directory or run directory to resume from (rank 0 reads it). */
  resumeFrom?: string;
  log: Logger;
  /** Join token for both services (security.tokenFile / RINGTRAIN_JOIN_TOKEN); undefined = none. */
  token?: string;
  /** Chrome trace of rank 0's steps (--trace FILE): chrome://tracing or Perfetto opens it. */
  traceFile?: string;
  /** TLS (or mTLS) for the coordinator connection and the ring; undefined = plain TCP. */
  tls?: TlsFiles;
  /** Bound to CPUs of its own (worker --cpus, launch --cpu-bind cores): shared-memory polling then takes no other rank's CPU. */
  ownCpus?: boolean;
  /** Hears that the coordinator stayed silent for a lease (launch then replaces a hung one). */
  onCoordinatorLost?: (reason: string) => void;
  /** Times steps and deadlines (default: the process's monotonic clock). */
  clock?: Clock;
}

/** What the process set up once: the backend, the data and when V8 stops tiering up. */
export interface WorkerEnv {
  backend: { name: string; kernels: string };
  data: ReturnType<typeof loadDataset>;
  tierUp?: TierUpStop;
}
