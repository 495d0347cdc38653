/**
 * Ring all-reduce (sum), in place: reduce-scatter then all-gather, as in Baidu's ring-allreduce
 * and Horovod/NCCL. With N ranks the buffer is cut into N chunks. In reduce-scatter step s, rank
 * r sends chunk (r - s) mod N to its successor and adds what its predecessor sends into chunk
 * (r - s - 1) mod N; after N-1 steps rank r owns the full sum of chunk (r + 1) mod N. All-gather
 * then passes the finished chunks around the ring for another N-1 steps. Each rank sends and
 * receives 2(N-1)/N of the buffer, independent of N: the bandwidth-optimal schedule.
 *
 * Within a step, the send and the receive touch different chunks, so both run concurrently.
 */
import { addInto, splitChunks } from './chunks';
import type { MessageKey, Transport } from './transport';

const mod = (a: number, n: number): number => ((a % n) + n) % n;

export async function ringAllReduce(
  t: Transport,
  buf: Float32Array,
  opSeq: number,
  bucket = 0,
): Promise<void> {
  const { rank, worldSize: n } = t.identity;
  if (n === 1 || buf.length === 0) return;
  const next = mod(rank + 1, n);
  const prev = mod(rank - 1, n);
  const chunks = splitChunks(buf.length, n);
  const maxChunk = chunks[0]?.length ?? 0;
  const scratch = new Float32Array(maxChunk);
  const view = (c: number): Float32Array => {
    const ch = chunks[c];
    if (ch === undefined) throw new Error(`chunk ${c} out of range`);
    return buf.subarray(ch.offset, ch.offset + ch.length);
  };
  const key = (step: number, chunk: number): MessageKey => ({ op: 'allreduce', opSeq, bucket, step, chunk });

  for (let s = 0; s < n - 1; s++) {
    const sendC = mod(rank - s, n);
    const recvC = mod(rank - s - 1, n);
    const target = view(recvC);
    const tmp = scratch.subarray(0, target.length);
    await Promise.all([t.send(next, key(s, sendC), view(sendC)), t.recv(prev, key(s, recvC), tmp)]);
    addInto(target, tmp);
  }
  for (let s = 0; s < n - 1; s++) {
    const sendC = mod(rank + 1 - s, n);
    const recvC = mod(rank - s, n);
    const step = n - 1 + s;
    await Promise.all([t.send(next, key(step, sendC), view(sendC)), t.recv(prev, key(step, recvC), view(recvC))]);
  }
}
