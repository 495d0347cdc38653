/**
 * The project's error family. Each error has a stable `code` so callers (the CLI, the gRPC
 * boundary, tests) can branch on it without parsing messages; messages carry the values and
 * say what to do.
 */
export type RingtrainErrorCode =
  | 'CONFIG_INVALID'
  | 'TIMEOUT'
  | 'PEER_REFUSED'
  | 'STALE_GENERATION'
  | 'SIZE_MISMATCH'
  | 'RENDEZVOUS_TIMEOUT'
  | 'JOB_FAILED'
  | 'ADDRESS_IN_USE'
  | 'UNAVAILABLE'
  | 'DATA_INVALID'
  | 'BACKEND_UNAVAILABLE'
  | 'ABORTED'
  | 'NOT_MEMBER'
  | 'REGENERATING'
  | 'WRITE_FAILED'
  /** The job this worker came to join has already finished: nothing left to do. */
  | 'JOB_DONE';

export class RingtrainError extends Error {
  readonly code: RingtrainErrorCode;
  constructor(code: RingtrainErrorCode, message: string) {
    super(message);
    this.name = 'RingtrainError';
    this.code = code;
  }
}

export function isRingtrainError(e: unknown): e is RingtrainError {
  return e instanceof RingtrainError;
}
