/**
 * Broadcast from `root` along the ring: each rank receives from its predecessor and forwards to
 * its successor, stopping before the message returns to the root. Used once at start so every
 * replica begins from rank 0's weights, which is all DDP needs to keep them identical afterwards.
 * Always float32: weights must arrive bit-exact.
 */
import type { MessageKey, Transport } from './transport';

export async function ringBroadcast(t: Transport, buf: Float32Array, opSeq: number, root = 0): Promise<void> {
  const { rank, worldSize: n } = t.identity;
  if (n === 1) return;
  const next = (rank + 1) % n;
  const prev = (rank - 1 + n) % n;
  const distance = (rank - root + n) % n;
  const key = (step: number): MessageKey => ({ op: 'broadcast', opSeq, bucket: 0, step, chunk: 0, block: 0 });
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const meta = { elements: buf.length, dtype: 'fp32' as const };
  if (distance !== 0) await t.recv(prev, key(distance - 1), bytes, meta);
  if (next !== root) await t.send(next, key(distance), bytes, meta);
}
