/**
 * Writing files that survive a crash: data is fsynced before anyone relies on it, and a file
 * that replaces another is written under a temporary name and renamed over it, so a reader sees
 * the old file or the new one, never half of one. Checkpoints, the saved model and the
 * coordinator's state file all go through here.
 */
import * as fs from 'node:fs';
import { RingtrainError } from './errors';

/** Bytes per write call; `onProgress` hears after each (crash tests kill the process there). */
const WRITE_CHUNK = 1 << 16;

/**
 * A failed write as an error that names the file: Node's own (`ENOSPC: no space left on device,
 * write`) does not say which, and on a full disk the fix is to free space or write elsewhere.
 */
export function writeFailed(file: string, e: unknown): RingtrainError {
  if (e instanceof RingtrainError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOSPC' || code === 'EDQUOT'
      ? `the disk is full (${code}): free space there, or give the run another --out (or checkpoint.dir)`
      : (e as Error).message;
  return new RingtrainError('WRITE_FAILED', `cannot write ${file}: ${why}`);
}

/** Writes `data` to `file` and fsyncs it. */
export function writeFileSynced(
  file: string,
  data: Uint8Array,
  onProgress?: (written: number, total: number) => void,
): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'w');
  } catch (e) {
    throw writeFailed(file, e);
  }
  try {
    for (let off = 0; off < data.length; off += WRITE_CHUNK) {
      const end = Math.min(data.length, off + WRITE_CHUNK);
      fs.writeSync(fd, data, off, end - off);
      onProgress?.(end, data.length);
    }
    fs.fsyncSync(fd);
  } catch (e) {
    throw writeFailed(file, e);
  } finally {
    fs.closeSync(fd);
  }
}

/** Replaces `file` with `data` atomically: temporary name, fsync, rename. A failed write leaves no temporary behind. */
export function writeFileAtomic(file: string, data: Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileSynced(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw writeFailed(file, e);
  }
}

/**
 * fs.appendFileSync whose failure names the file and takes back what got written: a disk that
 * fills up mid-write would otherwise leave a torn line that breaks every later reader.
 */
export function appendFileNamed(file: string, text: string): void {
  const before = fs.existsSync(file) ? fs.statSync(file).size : 0;
  try {
    fs.appendFileSync(file, text);
  } catch (e) {
    try {
      fs.truncateSync(file, before);
    } catch {
      // Nothing was created, or it went away: nothing to take back.
    }
    throw writeFailed(file, e);
  }
}
