/**
 * Children write their logs straight into their files, and the launcher reads those files for
 * the display. A pipe would make every child wait for the launcher: a launcher stopped at a
 * paused terminal (SIGSTOP, Ctrl-Z) fills the pipe, the child's synchronous log write blocks,
 * its heartbeats stop, and the job dies of a display. A file never waits for its reader.
 */
import * as fs from 'node:fs';

/** How often the launcher looks for new lines. */
export const TAIL_INTERVAL_MS = 200;
const CHUNK_BYTES = 1 << 16;

export class LogTail {
  private offset: number;
  private rest = '';
  private readonly buf = Buffer.allocUnsafe(CHUNK_BYTES);

  /** Reads `file` from its current end on; `onLine` hears each complete line. */
  constructor(
    private readonly file: string,
    private readonly onLine: (line: string) => void,
  ) {
    this.offset = fs.existsSync(file) ? fs.statSync(file).size : 0;
  }

  /** Reads what was appended since the last call; `final` also passes on an unterminated last line. */
  drain(final = false): void {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return;
    }
    try {
      for (;;) {
        const n = fs.readSync(fd, this.buf, 0, CHUNK_BYTES, this.offset);
        if (n <= 0) break;
        this.offset += n;
        const text = this.rest + this.buf.toString('utf8', 0, n);
        const lines = text.split('\n');
        this.rest = lines.pop() ?? '';
        for (const l of lines) this.onLine(l);
      }
    } finally {
      fs.closeSync(fd);
    }
    if (final && this.rest !== '') {
      this.onLine(this.rest);
      this.rest = '';
    }
  }
}
