/**
 * `ringtrain bench allreduce ...`: runs the nccl-tests-style all-reduce benchmark that lives in
 * bench/ (compiled next to src/ in dist/), so the numbers come from the same code `npm run
 * bench:allreduce` uses.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { usage } from './args';

const BENCHES: Record<string, string> = {
  allreduce: 'allreduce.js',
  train: 'train-throughput.js',
  core: 'per-core.js',
  profile: 'step-profile.js',
  hosts: 'hosts.js',
  model: 'scaling-model-cli.js',
  augment: 'augment-pipeline.js',
};

export async function benchCommand(argv: readonly string[]): Promise<number> {
  const [which, ...rest] = argv;
  const file = which === undefined ? undefined : BENCHES[which];
  if (file === undefined)
    throw usage(
      `ringtrain bench needs one of ${Object.keys(BENCHES).join(', ')}, e.g. ringtrain bench allreduce --nproc 2 --bytes 4K,400K,100M --transport grpc,tcp`,
    );
  const script = path.resolve(__dirname, '../../bench', file);
  if (!fs.existsSync(script)) throw usage(`benchmark ${script} is missing: run npm run build first`);
  const child = spawn(process.execPath, [script, ...rest], { stdio: 'inherit' });
  // A signal sent to this process alone (not the terminal's group) still reaches the bench, which
  // cleans up what it made (bench hosts: its namespaces) before it exits.
  const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal === 'SIGINT' ? 130 : 1));
    }),
  );
}
