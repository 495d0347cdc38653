/**
 * The job spec: every knob of a ringtrain job with a one-line reason, one file per section
 * (spec-*.ts); defaults.ts is the one home of their defaults. Everything else reads a validated
 * JobSpec.
 */
import type { ModelSpec } from './spec-model';
import type { DataSpec } from './spec-data';
import type { TrainSpec } from './spec-train';
import type { ClusterSpec, SecuritySpec } from './spec-cluster';
import type { CheckpointSpec, ObserveSpec } from './spec-run';

export type BackendName = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

export interface JobSpec {
  /** Job name: labels logs, metrics and the default run directory. */
  name: string;
  /** Seeds weight init, shuffling and anything random, so runs repeat. */
  seed: number;
  /** Compute backend; auto tries tensorflow-gpu, tensorflow, wasm, cpu in that order. */
  backend: BackendName;
  model: ModelSpec;
  data: DataSpec;
  train: TrainSpec;
  checkpoint: CheckpointSpec;
  cluster: ClusterSpec;
  observe: ObserveSpec;
  security: SecuritySpec;
  /** Run directory ('' = runs/<name>-<time>). */
  outDir: string;
}
