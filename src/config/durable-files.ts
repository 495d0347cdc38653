/**
 * Writing files that survive a crash: data is fsynced before anyone relies on it, and a file
 * that replaces another is written under a temporary name and renamed over it, so a reader sees
 * the old file or the new one, never half of one. Checkpoints, the saved model and the
 * coordinator's state file all go through here.
 */
import * as fs from 'node:fs';

/** Bytes per write call; `onProgress` hears after each (crash tests kill the process there). */
const WRITE_CHUNK = 1 << 16;

/** Writes `data` to `file` and fsyncs it. */
export function writeFileSynced(file: string, data: Uint8Array, onProgress?: (written: number, total: number) => void): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (let off = 0; off < data.length; off += WRITE_CHUNK) {
      const end = Math.min(data.length, off + WRITE_CHUNK);
      fs.writeSync(fd, data, off, end - off);
      onProgress?.(end, data.length);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Replaces `file` with `data` atomically: temporary name, fsync, rename. */
export function writeFileAtomic(file: string, data: Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSynced(tmp, data);
  fs.renameSync(tmp, file);
}
