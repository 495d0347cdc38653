export type { MessageKey, RingIdentity, Transport } from './transport';
export { describeKey } from './transport';
export { Mailbox, type Arrival } from './mailbox';
export { MemoryHub, MemoryTransport } from './transport-memory';
export { CollectiveServer, GrpcTransport } from './transport-grpc';
export { ringAllReduce } from './allreduce-ring';
export { ringBroadcast } from './broadcast-ring';
export { Communicator, DEFAULT_BUCKET_ELEMENTS, type CollectiveStats } from './communicator';
export { splitChunks, addInto, type Chunk } from './chunks';
