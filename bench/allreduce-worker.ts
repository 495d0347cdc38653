/**
 * One rank of the all-reduce benchmark: started by bench/allreduce.ts with IPC. Binds its ring
 * port, tells the parent, gets everyone's addresses, then times all-reduce at each size.
 */
import { CollectiveServer, Communicator, GrpcTransport } from '../src/allreduce';

interface Plan {
  kind: 'plan';
  rank: number;
  world: number;
  addresses: string[];
  sizes: number[];
  iters: number;
}

async function main(): Promise<void> {
  const server = new CollectiveServer('bench', 30_000);
  const port = await server.listen('127.0.0.1', 0);
  process.send?.({ kind: 'port', port });
  const plan = await new Promise<Plan>((resolve) => process.once('message', (m) => resolve(m as Plan)));
  const transport = new GrpcTransport({ job: 'bench', generation: 1, rank: plan.rank, worldSize: plan.world }, server, plan.addresses, 30_000);
  const comm = new Communicator(transport);
  const results: { bytes: number; medianMs: number; correct: boolean }[] = [];
  for (const bytes of plan.sizes) {
    const n = Math.floor(bytes / 4);
    const buf = new Float32Array(n);
    const times: number[] = [];
    let correct = true;
    for (let it = 0; it < plan.iters + 2; it++) {
      for (let i = 0; i < n; i++) buf[i] = plan.rank + 1 + (i % 7);
      await comm.barrier();
      const t = process.hrtime.bigint();
      await comm.allReduceSum(buf);
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      if (it >= 2) times.push(ms);
      const expected = (plan.world * (plan.world + 1)) / 2 + plan.world * 0;
      for (let i = 0; i < n; i += Math.max(1, n >> 10)) if (buf[i] !== expected + plan.world * (i % 7)) correct = false;
    }
    times.sort((a, b) => a - b);
    results.push({ bytes, medianMs: times[Math.floor(times.length / 2)] as number, correct });
  }
  process.send?.({ kind: 'results', results });
  await transport.close();
  await server.close();
  process.exit(0);
}

void main();
