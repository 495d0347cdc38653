export { services, unary, isServiceError, bindServer, CHANNEL_OPTIONS, MAX_MESSAGE_BYTES } from './proto';
