/**
 * All-reduce (sum) of exactly two ranks in one exchange: each rank sends its whole buffer to the
 * other and adds what arrives. For two ranks the ring takes two rounds (reduce-scatter, then
 * all-gather), each a send, a wake-up of the peer and a wait; this takes one, with the same bytes
 * on the wire (the whole buffer each way) and a second SIMD addition pass, which costs
 * microseconds. Small buffers are latency-bound, so they go this way (Communicator decides; see
 * PAIR_MAX_ELEMENTS); large ones keep the ring's pipelining.
 *
 * Replicas agree bit for bit: float addition is commutative, so rank 0's a + b equals rank 1's
 * b + a. With a compressed wire each rank first rounds its own values to the wire precision, so
 * both add the same two rounded operands.
 */
import { splitBlocks, type Chunk } from './chunks';
import { DEFAULT_BLOCK_ELEMENTS, pollFor, tracked, type RingOptions } from './allreduce-ring';
import type { MessageKey, Transport } from './transport';
import { bytesPerElement, decodeInto, encode } from './wire-dtype';

export async function pairAllReduce(
  t: Transport,
  buf: Float32Array,
  opSeq: number,
  bucket = 0,
  opts: RingOptions = {},
): Promise<void> {
  const { rank, worldSize } = t.identity;
  if (worldSize !== 2) throw new Error(`pairAllReduce needs 2 ranks, the ring has ${worldSize}`);
  if (buf.length === 0) return;
  const dtype = opts.dtype ?? 'fp32';
  const peer = 1 - rank;
  const blockElements = Math.max(1, opts.blockElements ?? DEFAULT_BLOCK_ELEMENTS);
  const bpe = bytesPerElement(dtype);
  const recvBytes = buf.length * bpe;
  const encodeBytes = dtype === 'fp32' ? 0 : buf.length * bpe;
  const scratch =
    opts.scratch !== undefined ? opts.scratch(recvBytes + encodeBytes) : new Uint8Array(recvBytes + encodeBytes);
  const inbox = scratch.subarray(0, recvBytes);
  // fp32 sends `buf` itself; a compressed wire sends the encoded copy, and the rank's own values
  // become their rounded selves (see above).
  const outgoing = encode(dtype, buf, scratch.subarray(recvBytes, recvBytes + encodeBytes));
  if (dtype !== 'fp32') decodeInto(dtype, outgoing, buf, false);
  const blocks = splitBlocks({ offset: 0, length: buf.length }, blockElements);
  const key = (block: number): MessageKey => ({ op: 'allreduce', opSeq, bucket, step: 0, chunk: 0, block });
  const bytesOf = (b: Chunk): [number, number] => [b.offset * bpe, (b.offset + b.length) * bpe];

  const arrivals = blocks.map((b, i) =>
    t.recv(peer, key(i), inbox.subarray(...bytesOf(b)), { elements: b.length, dtype }),
  );
  // A failure in a later block must not go unobserved while an earlier one is awaited.
  arrivals.forEach((a) => a.catch(() => undefined));
  const acks: Promise<void>[] = [];
  const post = tracked(t, opts, acks);
  // Lent, not copied: neither `buf` nor the encoded copy changes until flush() below.
  blocks.forEach((b, i) => post(peer, key(i), outgoing.subarray(...bytesOf(b)), { elements: b.length, dtype }, true));
  for (let i = 0; i < arrivals.length; i++) {
    if (t.poll !== undefined) await pollFor(t, peer, key(i));
    await arrivals[i];
  }
  // The peer's data is here; ours must be out of `buf` before it is added into.
  if (t.flush !== undefined) await t.flush();
  decodeInto(dtype, inbox, buf, true);
  await Promise.all(acks);
}
