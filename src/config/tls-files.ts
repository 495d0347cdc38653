/**
 * TLS material named in the job spec, read once at start. A file that cannot be read is a config
 * error naming it; no certificate configured means plain TCP (the default on a trusted network).
 */
import * as fs from 'node:fs';
import { RingtrainError } from '../core';
import type { JobSpec } from './job-spec';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
  /** Servers require client certificates (mTLS). */
  mutual: boolean;
}

function read(field: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new RingtrainError(
      'CONFIG_INVALID',
      `${field} ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): point it at a PEM file`,
    );
  }
}

export function loadTlsFiles(spec: JobSpec): TlsFiles | undefined {
  const s = spec.security;
  if (s.certFile === '') return undefined;
  return {
    cert: read('security.certFile', s.certFile),
    key: read('security.keyFile', s.keyFile),
    ca: read('security.caFile', s.caFile),
    mutual: s.mutualTls,
  };
}
