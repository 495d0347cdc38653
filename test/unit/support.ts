/** Small helpers several test files share. */
import * as fs from 'node:fs';
import { strict as assert } from 'node:assert';
import { RingtrainError } from '../../src/core/errors';
import type { DestinationStream } from '../../src/observe/logger';

/** The CONFIG_INVALID message thrown by `fn`; fails the test if it does not throw one. */
export function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof RingtrainError, `expected a RingtrainError, got ${String(e)}`);
    assert.equal(e.code, 'CONFIG_INVALID');
    return e.message;
  }
  assert.fail('expected a CONFIG_INVALID error, but nothing was thrown');
}

/** ||a - b|| / ||a||: how far two weight vectors are apart, relative to the first. */
export function relativeDifference(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += ((a[i] as number) - (b[i] as number)) ** 2;
    norm += (a[i] as number) ** 2;
  }
  return Math.sqrt(diff) / Math.sqrt(norm);
}

/** Collects what pino writes, one parsed JSON object per line. */
export function memoryDestination(): { stream: DestinationStream; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  return {
    stream: { write: (msg: string) => void chunks.push(msg) },
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/**
 * The kernel set the native addon picks on this CPU, read from /proc/cpuinfo independently of
 * the addon's own detection: AVX-512 tiles where the CPU has avx512f, else AVX2 + FMA.
 */
export function expectedNativeKernels(): string {
  const flags =
    fs
      .readFileSync('/proc/cpuinfo', 'utf8')
      .match(/^flags\s*:(.*)$/m)?.[1]
      ?.split(/\s+/) ?? [];
  return flags.includes('avx512f') ? 'native-avx512f' : 'native-avx2-fma';
}

/** mulberry32 + Box-Muller: normal(0,1) values, reproducible from `seed` and `salt`. */
export function seededNormals(seed: number, size: number, salt: number): Float32Array {
  let s = (seed * 7919 + salt * 104729) >>> 0;
  const uniform = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return out;
}
