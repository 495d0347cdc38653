/**
 * Checkpoints on disk, written so that a crash at any instant leaves the last complete one
 * usable.
 *
 * A checkpoint is a directory `ckpt-<step>` holding `state.bin` (named float32 arrays, back to
 * back, little-endian) and `manifest.json` (the training position and counters, the array table,
 * and the sha256 and size of state.bin). It is built under a hidden temporary name: state.bin is
 * written and fsynced, then the manifest, then the directory itself is fsynced and renamed into
 * place, and the parent directory is fsynced. rename(2) is atomic, so a reader sees either no
 * `ckpt-<step>` or a whole one. A temporary left by a killed writer is never read and is swept by
 * the next successful write. Reading checks the manifest and the checksum, so a checkpoint that
 * was damaged after the fact (a truncated copy, a flipped byte) is named in a warning and the
 * previous one is used instead.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { writeFailed, writeFileSynced, RingtrainError, DIRECTORY_USES, makeDirectory } from '../core';
import * as path from 'node:path';

export const CHECKPOINT_FORMAT = 'ringtrain-checkpoint';
export const CHECKPOINT_VERSION = 1;
const STATE_FILE = 'state.bin';
const MANIFEST_FILE = 'manifest.json';
const NAME = /^ckpt-(\d{9,})$/;

export interface CheckpointArrayEntry {
  name: string;
  /** Offset in float32 elements from the start of state.bin. */
  offset: number;
  length: number;
}

export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  step: number;
  createdAt: string;
  /** Training position and counters; JSON with non-finite numbers spelled as strings. */
  meta: unknown;
  arrays: CheckpointArrayEntry[];
  files: Record<string, { bytes: number; sha256: string }>;
}

export interface Checkpoint {
  step: number;
  meta: unknown;
  arrays: Map<string, Float32Array>;
}

export interface WriteOptions {
  /** Checkpoints to keep (the newest by step); older ones are deleted after the write. */
  keep: number;
  /** Called after each chunk of state.bin is written (crash tests kill the process here). */
  onProgress?: (written: number, total: number) => void;
}

export function checkpointName(step: number): string {
  return `ckpt-${String(step).padStart(9, '0')}`;
}

/** JSON.stringify that keeps Infinity/NaN (a "best so far" starts at Infinity). */
export function encodeMeta(meta: unknown): string {
  return JSON.stringify(meta, (_k, v: unknown) =>
    typeof v === 'number' && !Number.isFinite(v) ? `__num:${String(v)}` : v,
  );
}

export function decodeMeta(text: string): unknown {
  return JSON.parse(text, (_k, v: unknown) =>
    typeof v === 'string' && v.startsWith('__num:') ? Number(v.slice(6)) : v,
  );
}

function fsyncPath(p: string): void {
  const fd = fs.openSync(p, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes `ckpt` under `root` atomically and prunes old ones; returns the checkpoint's path. */
export function writeCheckpoint(root: string, ckpt: Checkpoint, opts: WriteOptions): string {
  makeDirectory(root, DIRECTORY_USES.checkpoints);
  const name = checkpointName(ckpt.step);
  const tmp = path.join(root, `.${name}.tmp-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    fs.mkdirSync(tmp);
    return writeInto(root, tmp, name, ckpt, opts);
  } catch (e) {
    // A full disk (or any failed write) leaves no half-built checkpoint behind.
    fs.rmSync(tmp, { recursive: true, force: true });
    throw writeFailed(tmp, e);
  }
}

function writeInto(root: string, tmp: string, name: string, ckpt: Checkpoint, opts: WriteOptions): string {
  const entries: CheckpointArrayEntry[] = [];
  let total = 0;
  for (const [arrayName, a] of ckpt.arrays) {
    entries.push({ name: arrayName, offset: total, length: a.length });
    total += a.length;
  }
  const state = new Float32Array(total);
  for (const e of entries) state.set(ckpt.arrays.get(e.name) as Float32Array, e.offset);
  const bytes = new Uint8Array(state.buffer);
  writeFileSynced(path.join(tmp, STATE_FILE), bytes, opts.onProgress);
  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    step: ckpt.step,
    createdAt: new Date().toISOString(),
    meta: JSON.parse(encodeMeta(ckpt.meta)) as unknown,
    arrays: entries,
    files: { [STATE_FILE]: { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') } },
  };
  writeFileSynced(path.join(tmp, MANIFEST_FILE), Buffer.from(JSON.stringify(manifest, null, 1)));
  fsyncPath(tmp);

  const final = path.join(root, name);
  // A checkpoint of the same step (an epoch ending right on a step checkpoint) is replaced:
  // rename cannot overwrite a non-empty directory, so the old one steps aside first.
  const old = path.join(root, `.${name}.old-${process.pid}`);
  const replacing = fs.existsSync(final);
  if (replacing) fs.renameSync(final, old);
  fs.renameSync(tmp, final);
  fsyncPath(root);
  if (replacing) fs.rmSync(old, { recursive: true, force: true });
  prune(root, opts.keep);
  return final;
}

/** Checkpoint directories under `root`, newest (highest step) first. */
export function listCheckpoints(root: string): { step: number; dir: string }[] {
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .map((n) => ({ m: NAME.exec(n), n }))
    .filter((e): e is { m: RegExpExecArray; n: string } => e.m !== null)
    .map((e) => ({ step: Number(e.m[1]), dir: path.join(root, e.n) }))
    .sort((a, b) => b.step - a.step);
}

function prune(root: string, keep: number): void {
  for (const old of listCheckpoints(root).slice(Math.max(1, keep)))
    fs.rmSync(old.dir, { recursive: true, force: true });
  for (const n of fs.readdirSync(root)) {
    // Leftovers of writers that were killed mid-write (never read, never complete).
    if (n.startsWith('.ckpt-') && (n.includes('.tmp-') || n.includes('.old-')))
      fs.rmSync(path.join(root, n), { recursive: true, force: true });
  }
}

/** Reads and verifies one checkpoint directory; throws DATA_INVALID saying what is wrong. */
export function readCheckpoint(dir: string): Checkpoint {
  const bad = (why: string): RingtrainError =>
    new RingtrainError('DATA_INVALID', `checkpoint ${dir} is unusable: ${why}`);
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST_FILE), 'utf8')) as CheckpointManifest;
  } catch (e) {
    throw bad(`cannot read ${MANIFEST_FILE} (${(e as Error).message})`);
  }
  if (manifest.format !== CHECKPOINT_FORMAT || manifest.version !== CHECKPOINT_VERSION) {
    throw bad(`${MANIFEST_FILE} is not a ${CHECKPOINT_FORMAT} v${CHECKPOINT_VERSION} manifest`);
  }
  const expect = manifest.files?.[STATE_FILE];
  if (expect === undefined) throw bad(`${MANIFEST_FILE} lists no ${STATE_FILE}`);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(path.join(dir, STATE_FILE));
  } catch (e) {
    throw bad(`cannot read ${STATE_FILE} (${(e as Error).message})`);
  }
  if (bytes.length !== expect.bytes)
    throw bad(`${STATE_FILE} has ${bytes.length} bytes, the manifest says ${expect.bytes} (truncated?)`);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== expect.sha256)
    throw bad(
      `${STATE_FILE} sha256 ${sha.slice(0, 12)}... does not match the manifest's ${expect.sha256.slice(0, 12)}... (corrupted)`,
    );
  // Copy into an aligned buffer: a Buffer's offset need not be a multiple of 4.
  const all = new Float32Array(bytes.length / 4);
  new Uint8Array(all.buffer).set(bytes);
  const arrays = new Map<string, Float32Array>();
  for (const e of manifest.arrays) {
    if (e.offset < 0 || e.offset + e.length > all.length)
      throw bad(`array '${e.name}' [${e.offset}, +${e.length}) lies outside ${STATE_FILE}`);
    arrays.set(e.name, all.subarray(e.offset, e.offset + e.length));
  }
  return { step: manifest.step, meta: decodeMeta(JSON.stringify(manifest.meta)), arrays };
}

/**
 * The newest usable checkpoint for `dir`, which may be a checkpoint itself (then older siblings
 * are the fallbacks), a directory of checkpoints, or a run directory with checkpoints/ inside.
 * Each unusable one is passed to `warn` and skipped. Undefined when none is usable.
 */
export function findLatestCheckpoint(
  dir: string,
  warn: (message: string) => void,
): { dir: string; ckpt: Checkpoint } | undefined {
  let root = dir;
  let maxStep = Infinity;
  const own = NAME.exec(path.basename(dir));
  if (own !== null) {
    root = path.dirname(dir);
    maxStep = Number(own[1]);
  } else if (fs.existsSync(path.join(dir, 'checkpoints'))) {
    root = path.join(dir, 'checkpoints');
  }
  for (const c of listCheckpoints(root)) {
    if (c.step > maxStep) continue;
    try {
      return { dir: c.dir, ckpt: readCheckpoint(c.dir) };
    } catch (e) {
      warn(`${(e as Error).message}; falling back to the previous checkpoint`);
    }
  }
  return undefined;
}
