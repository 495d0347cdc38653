/**
 * One rank of the all-reduce benchmark: started by bench/allreduce.ts with IPC. Binds its ring
 * port, tells the parent, gets everyone's addresses, then times all-reduce at each size.
 * argv: transport, shared-memory segment bytes (tcp; 0 = sockets only).
 */
import { Communicator, createRingEndpoint, type TransportKind, type WireDtype } from '../src/allreduce';
import { retainFreedMemory } from '../src/native';

interface Plan {
  kind: 'plan';
  rank: number;
  world: number;
  addresses: string[];
  sizes: number[];
  iters: number;
  dtype: WireDtype;
  /** Pipelined block size in bytes; undefined = the Communicator's default. */
  blockBytes?: number;
  algorithm: 'auto' | 'ring';
}

async function main(): Promise<void> {
  // As a training worker does (RINGTRAIN_MALLOC=default measures glibc's defaults).
  retainFreedMemory();
  const transport = (process.argv[2] ?? 'grpc') as TransportKind;
  const notes: string[] = [];
  const endpoint = createRingEndpoint(transport, 'bench', 60_000, {
    sharedMemoryBytes: Number(process.argv[3] ?? '0'),
    pollMicros: Number(process.argv[4] ?? '0'),
    onNote: (n) => notes.push(n),
  });
  const port = await endpoint.listen('127.0.0.1', 0);
  process.send?.({ kind: 'port', port });
  const plan = await new Promise<Plan>((resolve) => process.once('message', (m) => resolve(m as Plan)));
  const t = await endpoint.attach(
    { job: 'bench', generation: 1, rank: plan.rank, worldSize: plan.world },
    plan.addresses,
  );
  const comm = new Communicator(t, {
    dtype: plan.dtype,
    algorithm: plan.algorithm,
    blockElements: plan.blockBytes === undefined ? undefined : Math.floor(plan.blockBytes / 4),
    onNote: (n) => notes.push(n),
  });
  const results: { bytes: number; medianMs: number; correct: boolean }[] = [];
  const expected = (plan.world * (plan.world + 1)) / 2;
  for (const bytes of plan.sizes) {
    const n = Math.floor(bytes / 4);
    // As training allocates its gradients: in the shared file when two ranks share one, and
    // summed in place there, as gloo sums the caller's tensor in place. Each size's buffer
    // replaces the last one's.
    const buf = await comm.allocateShared(n);
    const times: number[] = [];
    let correct = true;
    // Warm-up and timed iterations as ../shared/peers/gloo_allreduce.py takes them, so the two
    // medians compare like with like: 20 + iters below 10 MB, 3 + 10 from 10 MB.
    const big = bytes >= 10_000_000;
    const iters = big ? Math.min(plan.iters, 10) : plan.iters;
    const warmup = big ? 3 : 20;
    for (let it = 0; it < iters + warmup; it++) {
      buf.fill(plan.rank + 1);
      await comm.barrier();
      const t0 = process.hrtime.bigint();
      await comm.allReduceSum(buf);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (it >= warmup) times.push(ms);
      for (let i = 0; i < n; i += Math.max(1, n >> 12)) if (buf[i] !== expected) correct = false;
      if (buf[n - 1] !== expected) correct = false;
    }
    times.sort((a, b) => a - b);
    results.push({ bytes, medianMs: times[Math.floor(times.length / 2)] as number, correct });
  }
  await comm.drain();
  // A shared-memory run that fell back to sockets must say so, or its figures would mislead.
  for (const n of notes)
    if (n.includes('over TCP') || n.includes('could not share a file'))
      process.stderr.write(`rank ${plan.rank}: ${n}\n`);
  process.send?.({ kind: 'results', results });
  // Wait for the parent's word so no rank closes its port while a neighbour still drains.
  await new Promise((resolve) => process.once('message', resolve));
  await endpoint.close();
  process.exit(0);
}

void main();
