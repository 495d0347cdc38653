/** What `ringtrain launch` is asked to start: the job, how many workers, where, on which CPUs and nodes. */
import type { JobSpec } from '../config';
import type { Terminal } from './format';

export interface LaunchOptions {
  spec: JobSpec;
  nproc: number;
  outDir: string;
  /** Where people read progress (stdout by default). */
  print?: (line: string) => void;
  /** Where the live display goes when `print` is not given (stdout by default). */
  terminal?: Terminal;
  /** The compiled CLI entry each child runs. */
  entry?: string;
  /** Each rank's CPU list (`--cpu-bind cores`); undefined = the scheduler places the workers. */
  cpuSets?: string[];
  /** This machine's place in a job of several; undefined = everything runs here. */
  nodes?: NodePlan;
}

/** One machine of a job that spans several, each running `nproc` workers. */
export interface NodePlan {
  count: number;
  /** Node 0 runs the coordinator; the others join it. */
  rank: number;
  /** The coordinator's address as every node reaches it. */
  coordinatorHost: string;
  /** Node 0 listens here (0 = any free port, printed for the other nodes). */
  coordinatorPort: number;
  /** The address the other machines reach this one's workers at. */
  advertise: string;
}
