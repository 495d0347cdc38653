/**
 * How soon V8 optimizes a worker's JavaScript. V8 hands a function to its optimizing compiler
 * once the function has used up its interrupt budget (67,584 bytes of bytecode run, by default)
 * a few times over. Most of a training step's JavaScript (tfjs's op wrappers and gradient
 * closures, the train loop, the ring all-reduce) runs once or a few times per step, so with the
 * default it is still being optimized thousands of steps in. A quarter of the budget gets there
 * sooner, and --always-sparkplug runs every function as baseline machine code from its first
 * calls instead of interpreting it until it is warm (Sparkplug compiles straight from bytecode,
 * cheaply, on the main thread); the commits that set them hold the measurements. The optimized
 * code computes the same, so results are bit for bit unchanged. Set at run time,
 * before the worker runs any training code, so workers started by `launch`, by Kubernetes or by
 * hand all get it; RINGTRAIN_JIT=default, or an --interrupt-budget or --max-opt given to node, leaves V8 alone.
 *
 * Once the step's code is optimized, a worker stops V8 from optimizing anything more (TierUpStop):
 * what still tiers up after thousands of steps is code that runs once an epoch or once a second
 * (evaluation's tfjs ops, reports, TensorBoard records), each compile milliseconds long on a
 * background thread. A worker fills its core, so that thread takes a training core, and in a
 * synchronous ring every pause of one rank stalls all of them at the next all-reduce. Code already
 * optimized stays optimized; code optimized later would only have made rare work a little faster.
 */
import * as v8 from 'node:v8';

/** Bytes of bytecode a function runs between V8's tier-up checks (V8's default: 67,584). */
export const WORKER_INTERRUPT_BUDGET = 16_896;
/** Optimizer steps after which a worker stops tiering up: the step's own code is optimized well before. */
export const TIER_UP_STEPS = 2_000;

/** Applies WORKER_INTERRUPT_BUDGET and Sparkplug unless told otherwise; says what applies, for the log. */
export function tuneJit(
  env: NodeJS.ProcessEnv = process.env,
  execArgv: readonly string[] = process.execArgv,
): { applied: boolean; note: string; stopAfterSteps?: number } {
  if (env.RINGTRAIN_JIT === 'default') return { applied: false, note: "V8's default tier-up (RINGTRAIN_JIT=default)" };
  const given = execArgv.find((f) => f.startsWith('--interrupt-budget=') || f.startsWith('--max-opt'));
  if (given !== undefined) return { applied: false, note: `tier-up as node was told (${given})` };
  const flags = `--interrupt-budget=${WORKER_INTERRUPT_BUDGET} --always-sparkplug`;
  v8.setFlagsFromString(flags);
  return {
    applied: true,
    note: `early tier-up (${flags}), none after ${TIER_UP_STEPS} steps`,
    stopAfterSteps: TIER_UP_STEPS,
  };
}

/** Keeps the code V8 has optimized and optimizes nothing more (1 = Sparkplug's baseline code at most). */
export function stopTierUp(): void {
  v8.setFlagsFromString('--max-opt=1');
}

/** Stops tier-up once, on the first step at or past `atStep` (undefined: never, V8 left alone). */
export class TierUpStop {
  private stopped = false;

  constructor(
    readonly atStep: number | undefined,
    private readonly stop: () => void = stopTierUp,
  ) {}

  /** After each optimizer step (a resumed run may start past atStep); true on the step that stopped it. */
  afterStep(step: number): boolean {
    if (this.stopped || this.atStep === undefined || step < this.atStep) return false;
    this.stopped = true;
    this.stop();
    return true;
  }
}
