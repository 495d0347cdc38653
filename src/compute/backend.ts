/**
 * tfjs backend selection. `auto` walks from fastest to most portable: tfjs-node-gpu (CUDA via
 * libtensorflow), tfjs-node (libtensorflow on CPU), wasm (XNNPACK, one thread under Node), cpu
 * (plain JS). The native packages are optional peer dependencies (a user installs them where
 * libtensorflow can be downloaded; the GPU image does), so every step loads its package lazily
 * and a miss is data (`tried`), not a crash; `auto` says which it chose and why. A backend asked
 * for by name must load, or the job stops with why.
 *
 * The backend is global to the process (tfjs-core's engine), and tfjs-core must be the one
 * instance tfjs-layers also uses, hence the plain '@tensorflow/tfjs-core' import.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendName } from '../config';
import { installWasmKernels } from './kernels-wasm';
import { kernelSet } from '../native';
import { RingtrainError } from '../core';

export type ResolvedBackendName = Exclude<BackendName, 'auto'>;

export interface BackendAttempt {
  name: string;
  error: string;
}

export interface SelectedBackend {
  /** The backend now active in tfjs-core. */
  name: ResolvedBackendName;
  /** Backends `auto` tried and skipped before this one, with why; empty for a named backend. */
  tried: BackendAttempt[];
  /**
   * What the heavy kernels run on: for wasm 'native-avx2-fma' (the project's native matrix
   * product) or 'wasm', with why not native; for other backends the backend's own name.
   */
  kernels: string;
  kernelsWhy?: string;
}

interface Candidate {
  name: ResolvedBackendName;
  /** npm package whose import registers the backend. */
  pkg: string;
  /** Name the package registers with tfjs-core (both native packages register 'tensorflow'). */
  tfName: string;
  /** Said after the cause when this backend was asked for by name and cannot load. */
  remedy: string;
  /** Why a missing package is missing, when that is expected rather than a broken install. */
  whyMissing?: string;
}

const NATIVE_MISSING =
  'an optional peer dependency: its install downloads libtensorflow, so ringtrain does not install it';

/** `auto` order: fastest first. */
export const AUTO_ORDER: readonly ResolvedBackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

const CANDIDATES: Record<ResolvedBackendName, Candidate> = {
  'tensorflow-gpu': {
    name: 'tensorflow-gpu',
    pkg: '@tensorflow/tfjs-node-gpu',
    tfName: 'tensorflow',
    remedy: 'use the GPU image (CUDA + libtensorflow), or set backend: wasm',
    whyMissing: NATIVE_MISSING,
  },
  tensorflow: {
    name: 'tensorflow',
    pkg: '@tensorflow/tfjs-node',
    tfName: 'tensorflow',
    remedy: 'run `npm install @tensorflow/tfjs-node` where libtensorflow can be downloaded, ' + 'or set backend: wasm',
    whyMissing: NATIVE_MISSING,
  },
  wasm: {
    name: 'wasm',
    pkg: '@tensorflow/tfjs-backend-wasm',
    tfName: 'wasm',
    remedy: 'reinstall dependencies (`npm ci`), or set backend: cpu',
  },
  cpu: {
    name: 'cpu',
    pkg: '@tensorflow/tfjs-backend-cpu',
    tfName: 'cpu',
    remedy: 'reinstall dependencies (`npm ci`)',
  },
};

// Resolved from this file so the optional packages are looked up in the project's
// node_modules; typed unknown because TypeScript must compile without their type packages.
const requireOptional: (id: string) => unknown = createRequire(__filename);

/**
 * Makes `requested` (or, for `auto`, the first that loads) the active tfjs backend and waits
 * until it is ready. `log` hears each skipped `auto` candidate.
 */
export async function selectBackend(requested: BackendName, log?: (msg: string) => void): Promise<SelectedBackend> {
  if (requested !== 'auto') {
    const candidate = CANDIDATES[requested];
    if (candidate === undefined) {
      throw new RingtrainError(
        'BACKEND_UNAVAILABLE',
        `unknown backend '${String(requested)}': use one of auto, ${AUTO_ORDER.join(', ')}`,
      );
    }
    const error = await tryActivate(candidate);
    if (error !== undefined) {
      throw new RingtrainError(
        'BACKEND_UNAVAILABLE',
        `backend ${requested} unavailable: ${error}: ${candidate.remedy}`,
      );
    }
    return { name: requested, tried: [], ...kernelsOf(requested) };
  }
  const tried: BackendAttempt[] = [];
  for (const name of AUTO_ORDER) {
    const error = await tryActivate(CANDIDATES[name]);
    if (error === undefined) {
      log?.(`backend auto chose ${name}: ${autoReason(tried)}`);
      return { name, tried, ...kernelsOf(name) };
    }
    tried.push({ name, error });
    log?.(`backend ${name} skipped: ${error}`);
  }
  throw new RingtrainError(
    'BACKEND_UNAVAILABLE',
    `no tfjs backend could load (${tried.map((t) => `${t.name}: ${t.error}`).join('; ')}): ` +
      'reinstall dependencies (`npm ci`)',
  );
}

/** Why `auto` landed where it did: the first in AUTO_ORDER that loaded, and what the faster ones lacked. */
function autoReason(tried: readonly BackendAttempt[]): string {
  if (tried.length === 0) return 'the fastest backend, and it loaded';
  const missing = tried.filter((t) => t.error.includes(' is not installed'));
  if (missing.length === tried.length && tried.every((t) => t.name.startsWith('tensorflow'))) {
    const names = missing.map((t) => t.name).join(' and ');
    return `${names} ${missing.length === 1 ? 'is' : 'are'} not installed (optional peer dependencies: npm install @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu to use them)`;
  }
  return tried.map((t) => `${t.name}: ${t.error}`).join('; ');
}

function kernelsOf(name: ResolvedBackendName): { kernels: string; kernelsWhy?: string } {
  if (name !== 'wasm') return { kernels: name };
  const set = kernelSet();
  return set.why === undefined ? { kernels: set.name } : { kernels: set.name, kernelsWhy: set.why };
}

/** Loads and activates one backend; returns why it failed, or undefined when it is active. */
async function tryActivate(c: Candidate): Promise<string | undefined> {
  try {
    requireOptional(c.pkg);
  } catch (err) {
    return describeLoadError(c, err);
  }
  if (tf.findBackendFactory(c.tfName) === null) {
    return (
      `${c.pkg} loaded but registered no '${c.tfName}' backend ` +
      '(does it use another copy of @tensorflow/tfjs-core?)'
    );
  }
  // setBackend resolves false (after tfjs logs the cause as a warning) when init fails, e.g.
  // the wasm binary cannot be fetched or libtensorflow finds no usable device.
  const ok = await tf.setBackend(c.tfName);
  if (!ok) return `${c.pkg} loaded but tfjs could not initialise backend '${c.tfName}'`;
  await tf.ready();
  if (c.tfName === 'wasm') installWasmKernels();
  return undefined;
}

function describeLoadError(c: Candidate, err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  // The first line names the missing module; the rest is the require stack.
  const firstLine = message.split('\n')[0];
  if (code === 'MODULE_NOT_FOUND' && firstLine.includes(`'${c.pkg}'`)) {
    return c.whyMissing ? `${c.pkg} is not installed (${c.whyMissing})` : `${c.pkg} is not installed`;
  }
  return `${c.pkg} failed to load: ${firstLine}`;
}
