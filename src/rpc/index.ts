export { services, unary, isServiceError, bindServer, shutdownServer, CHANNEL_OPTIONS, MAX_MESSAGE_BYTES } from './proto';
export { tokenMetadata, tokenRefusal, requireToken, sameToken, TOKEN_METADATA_KEY } from './auth';
export { serverCredentials, channelCredentials } from './tls';
