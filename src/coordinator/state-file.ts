/**
 * What a coordinator must remember to survive its own restart: which generation the ring was
 * at, how many restarts were spent, and who held the training state. Written atomically (temp
 * file, fsync, rename) at every ring formation and at the end of the job; read back by a
 * restarted coordinator, which then re-forms the ring around the surviving workers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../core';

export interface CoordinatorState {
  job: string;
  configHash: string;
  generation: number;
  restarts: number;
  /** Worker ids of the last ring: they hold the live training state. */
  holders: string[];
  phase: 'running' | 'done' | 'failed';
  reason: string;
}

export function writeCoordinatorState(file: string, state: CoordinatorState): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomic(file, Buffer.from(JSON.stringify(state, null, 2)));
}

/** The saved state, or undefined when there is none; a corrupt file is reported, not trusted. */
export function readCoordinatorState(file: string, warn: (msg: string) => void): CoordinatorState | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    const s = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<CoordinatorState>;
    if (
      typeof s.job !== 'string' ||
      typeof s.generation !== 'number' ||
      !Array.isArray(s.holders) ||
      typeof s.restarts !== 'number'
    ) {
      warn(`coordinator state file ${file} is missing fields; starting the job afresh`);
      return undefined;
    }
    return {
      job: s.job,
      configHash: s.configHash ?? '',
      generation: s.generation,
      restarts: s.restarts,
      holders: s.holders,
      phase: s.phase ?? 'running',
      reason: s.reason ?? '',
    };
  } catch (e) {
    warn(`coordinator state file ${file} cannot be read (${(e as Error).message}); starting the job afresh`);
    return undefined;
  }
}
