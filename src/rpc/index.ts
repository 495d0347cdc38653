export {
  services,
  unary,
  isServiceError,
  bindServer,
  shutdownServer,
  CHANNEL_OPTIONS,
  FLOW_CONTROL_WINDOW,
  MAX_MESSAGE_BYTES,
} from './proto';
export { tokenMetadata, tokenRefusal, sentTokenRefusal, requireToken, sameToken, TOKEN_METADATA_KEY } from './auth';
export { serverCredentials, channelCredentials } from './tls';
