/**
 * The benchmarks refuse to print a ratio against PyTorch on the reference BLAS. Debian keeps the
 * reference libblas.so.3 in its own folder; putting that folder first on the library path makes
 * the peer's torch resolve it, as on a machine without OpenBLAS, while OpenBLAS's own files are
 * still mapped (through LAPACK): the check must look at the file that provides libblas.so.3.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli } from './cli';

const REFERENCE = '/usr/lib/x86_64-linux-gnu/blas';

/** The peer's shared loader and models (bench/torch_step.py imports them from there). */
const PEERS = path.resolve(__dirname, '../../../../shared/peers/torch_common.py');

function why(): string | false {
  if (!fs.existsSync(`${REFERENCE}/libblas.so.3`)) return `no reference BLAS at ${REFERENCE} (Debian package libblas3)`;
  if (!fs.existsSync(PEERS)) return `no PyTorch peer scripts at ${PEERS}`;
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
  } catch {
    return '/usr/bin/python3 has no torch (Debian package python3-torch)';
  }
  return false;
}

const skip = why();
if (skip !== false) process.stdout.write(`# bench-blas skipped: ${skip}\n`);

test(
  'bench core refuses, with the install line, when PyTorch runs on the reference BLAS',
  { skip, timeout: 120_000 },
  async () => {
    const env = { ...process.env, LD_LIBRARY_PATH: REFERENCE, BENCH_MODELS: 'mlp', BENCH_REPEATS: '1' };
    const r = await runCli(['bench', 'core'], { timeoutMs: 100_000, env });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`on the reference BLAS \\(${REFERENCE}/libblas\\.so\\.3[^)]*\\)`));
    assert.match(r.stderr, /apt-get install -y python3-torch libopenblas0-pthread/);
    assert.doesNotMatch(r.stdout, /ringtrain \/ PyTorch/, 'a ratio table was printed');
  },
);
