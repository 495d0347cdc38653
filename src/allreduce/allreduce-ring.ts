/**
 * Ring all-reduce (sum), in place: reduce-scatter then all-gather, as in Baidu's ring-allreduce
 * and Horovod/NCCL. With N ranks the buffer is cut into N chunks. In reduce-scatter step s, rank
 * r sends chunk (r - s) mod N to its successor and adds what its predecessor sends into chunk
 * (r - s - 1) mod N; after N-1 steps rank r owns the full sum of chunk (r + 1) mod N. All-gather
 * then passes the finished chunks around the ring for another N-1 steps. Each rank sends and
 * receives 2(N-1)/N of the buffer, independent of N: the bandwidth-optimal schedule.
 *
 * Within a step, the send and the receive touch different chunks, so both run concurrently.
 * A step waits only for its receive, not for the acknowledgement of its send: the transport has
 * taken a copy of the payload by then, and waiting for the ack would add a round trip per step.
 * A refused send aborts the receives still waiting, so a failure surfaces at once with the
 * peer's reason. The acks are awaited at the end unless the caller takes them (`onSend`): a
 * receiver that goes straight back to computing answers late, and training should not wait
 * for a receipt it does not need (measured: 10 ms stalls per step).
 */
import { addInto, splitChunks } from './chunks';
import type { MessageKey, Transport } from './transport';

const mod = (a: number, n: number): number => ((a % n) + n) % n;

export async function ringAllReduce(
  t: Transport,
  buf: Float32Array,
  opSeq: number,
  bucket = 0,
  onSend?: (ack: Promise<void>) => void,
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
  const sends: Promise<void>[] = [];
  const send = (step: number, chunk: number): void => {
    const p = t.send(next, key(step, chunk), view(chunk));
    p.catch((e: unknown) => t.abort(e instanceof Error ? e : new Error(String(e))));
    if (onSend !== undefined) onSend(p);
    else sends.push(p);
  };

  for (let s = 0; s < n - 1; s++) {
    const sendC = mod(rank - s, n);
    const recvC = mod(rank - s - 1, n);
    const target = view(recvC);
    const tmp = scratch.subarray(0, target.length);
    send(s, sendC);
    await t.recv(prev, key(s, recvC), tmp);
    addInto(target, tmp);
  }
  for (let s = 0; s < n - 1; s++) {
    const sendC = mod(rank + 1 - s, n);
    const recvC = mod(rank - s, n);
    const step = n - 1 + s;
    send(step, sendC);
    await t.recv(prev, key(step, recvC), view(recvC));
  }
  await Promise.all(sends);
}
