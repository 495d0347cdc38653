/**
 * Where the join token comes from: `security.tokenFile`, else RINGTRAIN_JOIN_TOKEN. Read once at
 * start; a token file that cannot be read is a config error naming the file, never a silent
 * "no token".
 */
import * as fs from 'node:fs';
import { RingtrainError } from '../core';
import type { JobSpec } from './job-spec';

export const TOKEN_ENV = 'RINGTRAIN_JOIN_TOKEN';

export function resolveJoinToken(spec: JobSpec, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = spec.security.tokenFile;
  if (file !== '') {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new RingtrainError(
        'CONFIG_INVALID',
        `security.tokenFile ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): point it at the join token's file, or unset it and use ${TOKEN_ENV}`,
      );
    }
    const token = text.trim();
    if (token === '')
      throw new RingtrainError(
        'CONFIG_INVALID',
        `security.tokenFile ${file} is empty: put the shared join token in it`,
      );
    return token;
  }
  const fromEnv = env[TOKEN_ENV]?.trim();
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}
