/** The job spec's `cluster` section (rendezvous, membership, the ring) and `security` (token, TLS). */

export interface ClusterSpec {
  /** Number of workers the coordinator waits for before training starts. */
  worldSize: number;
  /** How long the coordinator waits for all workers to join. */
  joinTimeoutSec: number;
  /** How often a worker tells the coordinator it is alive. */
  heartbeatIntervalSec: number;
  /** A worker silent for this long is declared lost and the job fails. */
  leaseTimeoutSec: number;
  /** Deadline for one collective (all-reduce, broadcast, barrier) to hear from its peer. */
  collectiveTimeoutSec: number;
  /** How long a worker keeps retrying (with backoff) to reach the coordinator. */
  connectTimeoutSec: number;
  /**
   * The job fails once it has run this long since the coordinator started (0 = no limit), as
   * a Kubernetes Job's activeDeadlineSeconds does: deploy/k8s sets that field to this value.
   */
  activeDeadlineSec: number;
  /**
   * Port each worker's ring server listens on (0 = any free port). A NetworkPolicy can only
   * open a declared port: deploy/k8s sets one; `ringtrain launch` runs several workers on one
   * host, so keep it 0 there.
   */
  ringPort: number;
  /** Data plane between ring neighbours: grpc (default, one protocol everywhere) or tcp (framed sockets, several times faster in Node). */
  transport: TransportName;
  /** Gradient encoding on the wire: none (float32), fp16 or bf16 (half the bytes; sums stay float32). */
  compression: CompressionName;
  /** Gradient bucket cap in MB, as DDP's bucket_cap_mb. */
  bucketCapMb: number;
  /**
   * Shared memory in /dev/shm, in MiB (needs the native addon); 0 = none. Two ranks on one host
   * (either transport) sum through one file of this size; on tcp, ring neighbours on one host
   * also pass payloads through a segment of this size (one per neighbour).
   */
  sharedMemoryMb: number;
  /**
   * How long (microseconds) a rank that waits for a same-host neighbour polls shared memory
   * before it sleeps (tcp: until the socket wakes it); 0 = never poll, and no pair file. Polling
   * spares a socket wake-up per message but keeps the CPU busy, so a rank does not poll when its
   * host's ranks outnumber the CPUs they may use.
   */
  pollMicros: number;
  /**
   * auto: with two workers on each of several hosts (grpc transport, shared memory on), each
   * host's pair sums through a shared file and one worker per host crosses the network, as
   * NCCL's and Horovod's hierarchical all-reduce; flat: one ring over every worker.
   */
  hierarchy: HierarchyName;
  /** Fewest workers the ring may shrink to after a loss (0 = worldSize: never shrink). */
  minWorkers: number;
  /** Membership changes (lost or replaced workers) survived before the job fails; ringtrain launch restarts dead workers this many times. 0 = fail at the first loss. */
  maxRestarts: number;
  /**
   * Whether ringtrain launch restarts a worker killed by a signal or declared lost (while
   * maxRestarts lasts), as torchrun's agent does; false leaves it out and the ring goes on
   * smaller, which needs minWorkers below worldSize. The coordinator is restarted either way.
   */
  restartWorkers: boolean;
  /** Once minWorkers are in a rendezvous, how long to wait for the rest before forming the ring. */
  lastCallSec: number;
}

export type TransportName = 'grpc' | 'tcp';
export type CompressionName = 'none' | 'fp16' | 'bf16';
export type HierarchyName = 'auto' | 'flat';

export interface SecuritySpec {
  /**
   * File holding the join token (a shared secret) that both gRPC services and the TCP ring
   * require. '' = take it from RINGTRAIN_JOIN_TOKEN; neither set = no token check.
   * `ringtrain launch` makes a random token for its children when none is given.
   */
  tokenFile: string;
  /** TLS for both gRPC services and the TCP ring: this process's certificate (PEM); '' = no TLS. */
  certFile: string;
  /** The certificate's private key (PEM). */
  keyFile: string;
  /** CA bundle (PEM) that peers' certificates must chain to. */
  caFile: string;
  /** mTLS: servers also require a client certificate signed by caFile. */
  mutualTls: boolean;
}
