/**
 * Ring all-reduce (sum), in place: reduce-scatter then all-gather, as in Baidu's ring-allreduce
 * and Horovod/NCCL. With N ranks the buffer is cut into N chunks. In reduce-scatter step s, rank
 * r sends chunk (r - s) mod N to its successor and adds what its predecessor sends into chunk
 * (r - s - 1) mod N; after N-1 steps rank r owns the full sum of chunk (r + 1) mod N. All-gather
 * then passes the finished chunks around the ring for another N-1 steps. Each rank sends and
 * receives 2(N-1)/N of the buffer, independent of N: the bandwidth-optimal schedule.
 *
 * Pipelining: the chunk a rank sends at step s+1 is exactly the chunk it received at step s, so
 * chunks travel as blocks and each block is forwarded as soon as it has been received (and
 * reduced), while later blocks are still on the wire. Large buffers thus keep the link busy
 * and the additions overlap the transfer.
 *
 * A step waits only for its receives, never for the acknowledgement of its sends: transports
 * copy the payload before `send` returns, and a receiver that goes straight back to computing
 * answers late, and awaiting acks stalled every training step. A refused send
 * aborts the receives still waiting, so failures surface at once with the peer's reason. Acks go
 * to `onSend` when given, else they are awaited at the end.
 */
import { splitBlocks, splitChunks, type Chunk } from './chunks';
import type { MessageKey, PayloadMeta, Transport } from './transport';
import { bytesPerElement, decodeInto, encode, type WireDtype } from './wire-dtype';

/** Elements per pipelined block: 1 MiB of float32. */
export const DEFAULT_BLOCK_ELEMENTS = 256 * 1024;

export interface RingOptions {
  dtype?: WireDtype;
  blockElements?: number;
  onSend?: (ack: Promise<void>) => void;
  /** Landing space of at least `bytes`, reused across calls by the owner (fresh memory costs page faults). */
  scratch?: (bytes: number) => Uint8Array;
}

const mod = (a: number, n: number): number => ((a % n) + n) % n;

/**
 * A send that does not wait for its acknowledgement: a refusal aborts this rank's collective
 * (so its receives fail at once with the peer's reason), and the ack goes to `opts.onSend`, or
 * into `acks` for the caller to await at the end.
 */
export function tracked(
  t: Transport,
  opts: RingOptions,
  acks: Promise<void>[],
): (to: number, key: MessageKey, payload: Uint8Array, meta: PayloadMeta, lend: boolean) => void {
  const generation = t.identity.generation;
  return (to, key, payload, meta, lend) => {
    const p = t.send(to, key, payload, meta, lend);
    p.catch((e: unknown) => t.abort(e instanceof Error ? e : new Error(String(e)), generation));
    if (opts.onSend !== undefined) opts.onSend(p);
    else acks.push(p);
  };
}

/**
 * One chunk's worth of landing space, so every block of a step can be posted at once and stream
 * transports read each block straight into place instead of parking a copy; behind it, room to
 * encode one block when the wire is compressed (fp32 sends views, no copy). Taken from the
 * caller's reusable buffer: a fresh one per step would cost page faults on the hot path.
 */
function ringScratch(
  opts: RingOptions,
  maxChunk: number,
  dtype: WireDtype,
  blockElements: number,
): { recvScratch: Uint8Array; encodeScratch: Uint8Array } {
  const bpe = bytesPerElement(dtype);
  const recvBytes = maxChunk * bpe;
  const encodeBytes = dtype === 'fp32' ? 0 : Math.min(blockElements, maxChunk) * bpe;
  const scratch =
    opts.scratch !== undefined ? opts.scratch(recvBytes + encodeBytes) : new Uint8Array(recvBytes + encodeBytes);
  return { recvScratch: scratch.subarray(0, recvBytes), encodeScratch: scratch.subarray(recvBytes) };
}

/**
 * Before awaiting a receive: lets a polling transport wait for it, once the code that started
 * the collective has handed control back (at its first await), since poll() blocks and that
 * caller may still have work to overlap with the collective (pack the next bucket, prepare the
 * next batch). Call it only when `t.poll` exists: other transports should not pay the tick.
 */
export async function pollFor(t: Transport, from: number, key: MessageKey): Promise<void> {
  if (t.poll === undefined) return;
  await Promise.resolve();
  t.poll(from, key);
}

export async function ringAllReduce(
  t: Transport,
  buf: Float32Array,
  opSeq: number,
  bucket = 0,
  opts: RingOptions = {},
): Promise<void> {
  const { rank, worldSize: n } = t.identity;
  if (n === 1 || buf.length === 0) return;
  const dtype = opts.dtype ?? 'fp32';
  const blockElements = Math.max(1, opts.blockElements ?? DEFAULT_BLOCK_ELEMENTS);
  const next = mod(rank + 1, n);
  const prev = mod(rank - 1, n);
  const chunks = splitChunks(buf.length, n);
  const blocksOf = (c: number): Chunk[] => splitBlocks(chunks[c] as Chunk, blockElements);
  const bpe = bytesPerElement(dtype);
  const { recvScratch, encodeScratch } = ringScratch(opts, chunks[0]?.length ?? 0, dtype, blockElements);
  const acks: Promise<void>[] = [];
  const post = tracked(t, opts, acks);
  const key = (step: number, chunk: number, block: number): MessageKey => ({
    op: 'allreduce',
    opSeq,
    bucket,
    step,
    chunk,
    block,
  });

  const send = (step: number, chunk: number, block: number, b: Chunk): void => {
    const view = buf.subarray(b.offset, b.offset + b.length);
    // fp32 blocks are lent in place: a region of `buf` is only overwritten by data that causally
    // follows its own send (ring order), and flush() below covers the rest. Encoded blocks share
    // one scratch, so they must be copied.
    post(
      next,
      key(step, chunk, block),
      encode(dtype, view, encodeScratch),
      { elements: b.length, dtype },
      dtype === 'fp32',
    );
  };

  blocksOf(rank).forEach((b, i) => send(0, rank, i, b));
  const lastStep = 2 * (n - 1) - 1;
  for (let step = 0; step <= lastStep; step++) {
    const reduce = step < n - 1;
    const recvC = reduce ? mod(rank - step - 1, n) : mod(rank - (step - (n - 1)), n);
    const chunkStart = (chunks[recvC] as Chunk).offset;
    const blocks = blocksOf(recvC);
    // fp32 all-gather blocks land directly in the buffer; everything else goes via scratch.
    const direct = !reduce && dtype === 'fp32';
    const inboxes = blocks.map((b) =>
      direct
        ? new Uint8Array(buf.buffer, buf.byteOffset + b.offset * 4, b.length * 4)
        : recvScratch.subarray((b.offset - chunkStart) * bpe, (b.offset - chunkStart + b.length) * bpe),
    );
    const arrivals = blocks.map((b, i) =>
      t.recv(prev, key(step, recvC, i), inboxes[i] as Uint8Array, { elements: b.length, dtype }),
    );
    // A failure in a later block must not go unobserved while an earlier one is awaited.
    arrivals.forEach((a) => a.catch(() => undefined));
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i] as Chunk;
      const target = buf.subarray(b.offset, b.offset + b.length);
      if (t.poll !== undefined) await pollFor(t, prev, key(step, recvC, i));
      await arrivals[i];
      if (!direct) decodeInto(dtype, inboxes[i] as Uint8Array, target, reduce);
      // The owner of a finished chunk rounds it to the wire precision too; otherwise it would keep
      // more precise values than the copies it sends out, and replicas would drift apart.
      if (reduce && step === n - 2 && dtype !== 'fp32')
        decodeInto(dtype, encode(dtype, target, encodeScratch), target, false);
      if (step < lastStep) send(step + 1, recvC, i, b);
    }
  }
  await Promise.all(acks);
  // The caller may change `buf` as soon as we return: the last lent blocks must be out first.
  if (t.flush !== undefined) await t.flush();
}
