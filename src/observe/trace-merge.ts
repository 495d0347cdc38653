/**
 * One timeline from the trace files of several ranks (TraceWriter), as Horovod writes one
 * timeline for the job: every rank keeps its own process track, and the wall-clock timestamps
 * line them up. A rank that crashed left its file without the closing bracket; it still merges.
 */
import * as fs from 'node:fs';

/** The events of one trace file; a missing closing bracket (the writer never closed) is added. */
export function readTraceEvents(file: string): object[] {
  const text = fs.readFileSync(file, 'utf8').trimEnd();
  const body = text.endsWith(']') ? text : `${text.replace(/,\s*$/, '')}\n]`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (e) {
    throw new Error(`${file} is not a trace (expected a JSON array of events): ${(e as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new Error(`${file} is not a trace (expected a JSON array of events)`);
  return parsed as object[];
}

/** Writes the events of `parts` (in order) to `out` as one trace; returns the number of events. */
export function mergeTraceFiles(parts: readonly string[], out: string): number {
  const fd = fs.openSync(out, 'w');
  let count = 0;
  try {
    fs.writeSync(fd, '[\n');
    for (const part of parts) {
      for (const e of readTraceEvents(part)) {
        fs.writeSync(fd, `${count === 0 ? '' : ',\n'}${JSON.stringify(e)}`);
        count += 1;
      }
    }
    fs.writeSync(fd, '\n]\n');
  } finally {
    fs.closeSync(fd);
  }
  return count;
}
