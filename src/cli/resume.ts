/**
 * `--resume DIR` for launch and worker. DIR may be a run directory (with checkpoints/ and
 * job.json), its checkpoints/ folder, or one ckpt-* directory. A resumed launch reuses the run's
 * job.json and directory unless told otherwise, so `ringtrain launch --resume runs/x --nproc 2`
 * is all it takes to continue a run; `--set train.epochs=12` on top trains it longer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { usage } from './args';

/** Environment form of --resume (a Kubernetes pod template can set it); launch sets it for its workers. */
export const ENV_RESUME = 'RINGTRAIN_RESUME';

export interface ResumeTarget {
  /** Absolute path handed to the workers. */
  dir: string;
  /** The run directory it belongs to, when it can be told. */
  runDir?: string;
  /** That run's resolved job spec, when present. */
  jobFile?: string;
}

export function resumeTarget(flag: string | undefined): ResumeTarget | undefined {
  if (flag === undefined) return undefined;
  const dir = path.resolve(flag);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw usage(
      `--resume ${flag}: no such directory; give a run directory, its checkpoints/ folder or one ckpt-* directory`,
    );
  }
  const runDir = runDirOf(dir);
  const jobFile =
    runDir !== undefined && fs.existsSync(path.join(runDir, 'job.json')) ? path.join(runDir, 'job.json') : undefined;
  return { dir, runDir, jobFile };
}

function runDirOf(dir: string): string | undefined {
  if (fs.existsSync(path.join(dir, 'checkpoints'))) return dir;
  if (path.basename(dir) === 'checkpoints') return path.dirname(dir);
  const parent = path.dirname(dir);
  if (/^ckpt-\d+$/.test(path.basename(dir)) && path.basename(parent) === 'checkpoints') return path.dirname(parent);
  return undefined;
}
