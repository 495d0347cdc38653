/**
 * The join token on gRPC: clients send it as metadata on every call; servers check it before
 * a handler runs and answer UNAUTHENTICATED otherwise. Compared in constant time, so the check
 * does not leak the token byte by byte.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';

export const TOKEN_METADATA_KEY = 'x-ringtrain-token';

export function tokenMetadata(token: string | undefined): grpc.Metadata {
  const m = new grpc.Metadata();
  if (token !== undefined) m.set(TOKEN_METADATA_KEY, token);
  return m;
}

/** Constant-time equality of two tokens (hashed first so lengths do not matter). */
export function sameToken(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** Why a call's metadata is refused, or undefined when it may proceed. */
export function tokenRefusal(metadata: grpc.Metadata, token: string | undefined): string | undefined {
  const sent = metadata.get(TOKEN_METADATA_KEY)[0];
  return sentTokenRefusal(sent === undefined ? undefined : String(sent), token);
}

/** Why a token sent as `sent` (a header's value, or undefined when missing) is refused, if it is. */
export function sentTokenRefusal(sent: string | undefined, token: string | undefined): string | undefined {
  if (token === undefined) return undefined;
  if (sent === undefined)
    return "missing join token: set RINGTRAIN_JOIN_TOKEN (or security.tokenFile) to the job's token";
  if (!sameToken(sent, token)) return "wrong join token: this worker was given another job's token";
  return undefined;
}

type Handler = (call: { metadata: grpc.Metadata }, cb: grpc.sendUnaryData<unknown>) => void;

/**
 * Wraps every unary handler of a service implementation with the token check. `onRefused`
 * hears each refusal (for logs and a counter).
 */
export function requireToken(
  impl: grpc.UntypedServiceImplementation,
  token: string | undefined,
  onRefused?: (method: string, reason: string) => void,
): grpc.UntypedServiceImplementation {
  if (token === undefined) return impl;
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(impl)) {
    const h = handler as unknown as Handler;
    out[name] = ((call: { metadata: grpc.Metadata }, cb: grpc.sendUnaryData<unknown>) => {
      const refusal = tokenRefusal(call.metadata, token);
      if (refusal !== undefined) {
        onRefused?.(name, refusal);
        cb({ code: grpc.status.UNAUTHENTICATED, details: refusal });
        return;
      }
      h(call, cb);
    }) as unknown as grpc.UntypedHandleCall;
  }
  return out;
}
