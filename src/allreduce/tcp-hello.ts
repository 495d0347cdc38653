/**
 * The TCP ring's HELLO: the dialer's first frame names its job and carries the join token; the
 * listener checks both before anything else, then the ring generation and that the dialer is its
 * successor. Until then a connection is a stranger, and nothing it sends reaches the ring.
 */
import { sameToken } from '../rpc';
import { FrameType, type Frame } from './tcp-frame';
import type { RingIdentity } from './transport';

/** A HELLO carries a job name and a token: anything longer is not one. */
export const MAX_HELLO_BYTES = 64 * 1024;

/** Throws for a frame a connection may not send before its HELLO has passed (`helloed` false). */
export function checkStranger(f: Frame, helloed: boolean): undefined {
  if (helloed) return undefined;
  if (f.type !== FrameType.Hello) throw new Error(`a ${FrameType[f.type] ?? f.type} frame before its HELLO`);
  if (f.length > MAX_HELLO_BYTES) throw new Error(`a HELLO of ${f.length} bytes (at most ${MAX_HELLO_BYTES})`);
  return undefined;
}

/** The dialer's HELLO text: the job's name, then the token (empty when the job has none). */
export function helloText(job: string, token: string | undefined): string {
  return `${job}\n${token ?? ''}`;
}

/** Why a HELLO's text does not carry this job's token and name; undefined = it does. */
export function credentialsRefusal(hello: string, job: string, token: string | undefined): string | undefined {
  const nl = hello.indexOf('\n');
  const theirJob = nl < 0 ? hello : hello.slice(0, nl);
  const theirToken = nl < 0 ? '' : hello.slice(nl + 1);
  if (token !== undefined && !sameToken(theirToken, token)) {
    return theirToken === ''
      ? "missing join token: set RINGTRAIN_JOIN_TOKEN (or security.tokenFile) to the job's token"
      : 'wrong join token';
  }
  if (theirJob !== job) return `this worker runs job '${job}', not '${theirJob}'`;
  return undefined;
}

/** Why this rank refuses a HELLO (credentials, ring, generation, dialer); undefined = accepted. */
export function helloRefusal(
  f: Frame,
  hello: string,
  job: string,
  token: string | undefined,
  ring: RingIdentity | undefined,
): string | undefined {
  const stranger = credentialsRefusal(hello, job, token);
  if (stranger !== undefined) return stranger;
  if (ring === undefined) return 'this worker has not joined a ring yet';
  if (f.generation !== ring.generation)
    return `HELLO for generation ${f.generation}, this ring is generation ${ring.generation}`;
  const expected = (ring.rank + 1) % ring.worldSize;
  if (f.fromRank !== expected)
    return `rank ${f.fromRank} dialed rank ${ring.rank}, but only rank ${expected} (its successor) receives from it`;
  return undefined;
}
