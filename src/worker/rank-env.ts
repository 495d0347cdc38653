/**
 * torchrun's identity variables for code the worker loads (a model or dataset module): RANK,
 * LOCAL_RANK and WORLD_SIZE, as a script started by torchrun reads them. Set from the hints at
 * start, before any user module is loaded, and again with the coordinator's answer after each
 * join (an elastic ring may renumber ranks or shrink).
 */
export interface RankEnv {
  rank: number;
  worldSize: number;
  /** Index of this worker among those of its host (launch sets LOCAL_RANK; a pod has one). */
  localRank: number;
}

export function exportRankEnv(e: RankEnv, env: NodeJS.ProcessEnv = process.env): void {
  env.RANK = String(e.rank);
  env.WORLD_SIZE = String(e.worldSize);
  env.LOCAL_RANK = String(e.localRank);
}

/** LOCAL_RANK as the environment gives it (ringtrain launch sets it per worker), else 0. */
export function localRankOf(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.LOCAL_RANK);
  return env.LOCAL_RANK !== undefined && Number.isInteger(n) && n >= 0 ? n : 0;
}
