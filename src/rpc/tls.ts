/** gRPC credentials for either plain TCP (no TLS files) or TLS / mTLS. */
import * as grpc from '@grpc/grpc-js';
import type { TlsFiles } from '../config';

export function serverCredentials(tls: TlsFiles | undefined): grpc.ServerCredentials {
  if (tls === undefined) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    tls.mutual ? tls.ca : null,
    [{ private_key: tls.key, cert_chain: tls.cert }],
    tls.mutual,
  );
}

export function channelCredentials(tls: TlsFiles | undefined): grpc.ChannelCredentials {
  if (tls === undefined) return grpc.credentials.createInsecure();
  // Clients always present their certificate: a server that asks for it (mTLS) gets it.
  return grpc.credentials.createSsl(tls.ca, tls.key, tls.cert);
}
