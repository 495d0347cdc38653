/**
 * Creating the run directory (and any parent) with an error that names the path, the reason and
 * the fix. Node's own `mkdirSync(dir, { recursive: true })` is not used for this: it reports a
 * file in the way as a bare ENOTDIR, and under /proc (where mkdir fails with ENOENT although the
 * parent exists) it retries forever, so `--out /proc/x` hung the launcher.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RingtrainError } from './errors';

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  ENOENT: 'this file system does not allow creating it',
  ENAMETOOLONG: 'the name is too long',
};

/** What a directory is for, and how to choose another (both go into the message). */
export interface DirectoryUse {
  what: string;
  fix: string;
}

/** The directories people name on the command line or in the job file, so every check of one says the same. */
export const DIRECTORY_USES = {
  run: {
    what: 'the run directory',
    fix: 'pass --out DIR (or set outDir in the job file) naming a directory you can write to',
  },
  checkpoints: {
    what: 'the checkpoint directory',
    fix: "set checkpoint.dir to a directory you can write to (empty: the run directory's checkpoints/)",
  },
  trace: { what: "the trace file's directory", fix: 'pass --trace FILE in a directory you can write to' },
  stateFile: { what: "the state file's directory", fix: 'pass --state-file FILE in a directory you can write to' },
  report: { what: 'the report directory', fix: 'pass --out DIR naming a directory you can write to' },
  quantized: { what: 'the quantized model directory', fix: 'pass --out DIR naming a directory you can write to' },
} satisfies Record<string, DirectoryUse>;

/** Makes `dir` and its missing parents, one level at a time. */
export function makeDirectory(dir: string, use: DirectoryUse): void {
  const target = path.resolve(dir);
  const fail = (problem: string): never => {
    throw new RingtrainError('CONFIG_INVALID', `cannot use ${target} as ${use.what}: ${problem}; ${use.fix}`);
  };
  const { root } = path.parse(target);
  let at = root;
  for (const part of target
    .slice(root.length)
    .split(path.sep)
    .filter((p) => p !== '')) {
    at = path.join(at, part);
    try {
      fs.mkdirSync(at);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (code === 'EEXIST' || code === 'EISDIR') {
        // Something is there: fine when it is a directory (or a link to one).
        if (fs.statSync(at).isDirectory()) continue;
        fail(`${at} is a file, not a directory`);
      }
      fail(`${at} cannot be created (${REASONS[code] ?? code})`);
    }
  }
  try {
    fs.accessSync(target, fs.constants.W_OK | fs.constants.X_OK);
  } catch {
    fail(`${target} is not writable`);
  }
}
