import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MessageChannel, Worker, isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { SharedPair } from '../../src/allreduce/shm-pair';
import { nativeSharedMemory } from '../../src/native';

/** What each rank thread reports. */
interface RankReport {
  rank: number;
  mismatches: number;
  sleeps: number;
  woken: number;
  /** The steps after which the pair agreed on an event-loop turn (turns mode). */
  turns?: number[];
}

const STEPS = 60;
const N = 4099;

/** Rank `rank`'s side of a pair opened over a message port to the other thread, spinning `spinMs`. */
async function openPair(rank: number, port: MessagePort, dir: string, spinMs: number): Promise<SharedPair> {
  const next = (): Promise<unknown> => new Promise((resolve) => port.once('message', resolve));
  const pair = await SharedPair.open(
    rank,
    { bytes: 1 << 20, dir, spinMs, timeoutMs: 10_000, peer: `rank ${1 - rank}`, aborted: () => undefined },
    {
      broadcast: async (bytes) => {
        if (rank === 0) port.postMessage(bytes);
        else bytes.set((await next()) as Uint8Array);
      },
      both: async (yes) => {
        port.postMessage(yes);
        return yes && ((await next()) as boolean);
      },
    },
  );
  if (pair === undefined) throw new Error('no shared pair');
  return pair;
}

/** Rank `rank` of a pair in a thread of its own: STEPS in-place means, rank 1 late by ~3 ms every third step. */
async function runRank(rank: number, port: MessagePort, dir: string): Promise<RankReport> {
  const pair = await openPair(rank, port, dir, 0.25);
  const buf = await pair.residentBuffer(N);
  if (buf === undefined) throw new Error('no resident buffer');
  let mismatches = 0;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let s = 0; s < STEPS; s++) {
    for (let i = 0; i < N; i++) buf[i] = (rank + 1) * (i + s);
    // The late rank keeps the other waiting past its spin, into a futex sleep.
    if (rank === 1 && s % 3 === 0) Atomics.wait(pause, 0, 0, 3);
    await pair.allReduceInPlace(buf, 0.5);
    for (let i = 0; i < N; i++) if (buf[i] !== Math.fround(Math.fround(i + s + 2 * (i + s)) * 0.5)) mismatches++;
  }
  return { rank, mismatches, ...pair.sleepStats };
}

/**
 * Rank `rank` of a pair whose spin is 2 ms, summing with allReduceSum: rank 1 is ~0.6 ms late at
 * every step, and rank 0 waits with `spinMs` (a hand-over's short spin, or the pair's own).
 */
async function runHandOver(
  rank: number,
  port: MessagePort,
  dir: string,
  spinMs: number | undefined,
): Promise<RankReport> {
  const pair = await openPair(rank, port, dir, 2);
  const buf = new Float32Array(N);
  const scratch = new Float32Array(N);
  let mismatches = 0;
  for (let s = 0; s < STEPS; s++) {
    for (let i = 0; i < N; i++) buf[i] = (rank + 1) * (i + s);
    if (rank === 1) {
      const until = performance.now() + 0.6;
      while (performance.now() < until);
    }
    await pair.allReduceSum(buf, scratch, 1, rank === 0 ? spinMs : undefined);
    for (let i = 0; i < N; i++) if (buf[i] !== Math.fround(3 * (i + s))) mismatches++;
  }
  return { rank, mismatches, ...pair.sleepStats };
}

/** Rank 0 wants a turn after every third step, rank 1 after every fifth; the steps the pair agreed on. */
async function runTurns(rank: number, port: MessagePort, dir: string): Promise<RankReport> {
  const pair = await openPair(rank, port, dir, 0.25);
  const buf = await pair.residentBuffer(N);
  if (buf === undefined) throw new Error('no resident buffer');
  const turns: number[] = [];
  let mismatches = 0;
  for (let s = 0; s < STEPS; s++) {
    buf.fill(rank + s);
    await pair.allReduceInPlace(buf, 1, undefined, s % (rank === 0 ? 3 : 5) === 0);
    if (pair.turnAgreed) turns.push(s);
    for (let i = 0; i < N; i++) if (buf[i] !== 1 + 2 * s) mismatches++;
  }
  return { rank, mismatches, ...pair.sleepStats, turns };
}

if (!isMainThread) {
  const { rank, port, dir, handOverSpinMs, turns } = workerData as {
    rank: number;
    port: MessagePort;
    dir: string;
    handOverSpinMs?: number | null;
    turns?: boolean;
  };
  const run =
    turns === true
      ? runTurns(rank, port, dir)
      : handOverSpinMs === undefined
        ? runRank(rank, port, dir)
        : runHandOver(rank, port, dir, handOverSpinMs ?? undefined);
  void run.then(
    (r) => parentPort?.postMessage(r),
    (e: unknown) => parentPort?.postMessage({ error: String(e) }),
  );
} else {
  const shm = nativeSharedMemory().shm;
  const skip = shm?.futexWait === undefined ? 'no native addon with a futex here' : false;

  test(
    "a pair on two threads sleeps on a futex when its peer is late, is woken by the peer's signal, and sums exactly",
    { skip, timeout: 60_000 },
    async () => {
      const reports = await pairOnThreads({});
      assert.deepEqual(
        reports.map((r) => r.mismatches),
        [0, 0],
        'every mean exact on both ranks',
      );
      const early = reports[0] as RankReport;
      // Rank 0 waited ~3 ms on 20 steps: past its 0.25 ms spin, so it slept, and the late
      // rank's signal ended those sleeps (a 1 ms slice that merely ran out is not a wake).
      assert.ok(early.sleeps >= 20, `rank 0 slept ${early.sleeps} times`);
      assert.ok(early.woken >= 10, `rank 0 was woken by a signal ${early.woken} times of ${early.sleeps}`);
    },
  );

  test(
    "a hand-over's short spin sleeps through a wait the pair's own 2 ms spin would spin through",
    { skip, timeout: 60_000 },
    async () => {
      const short = await pairOnThreads({ handOverSpinMs: 0.05 });
      const own = await pairOnThreads({ handOverSpinMs: null });
      for (const r of [...short, ...own]) assert.equal(r.mismatches, 0, `rank ${r.rank}: every sum exact`);
      const [shortWait, ownWait] = [short[0], own[0]] as RankReport[];
      // The peer is ~0.6 ms late at each of the 60 steps: past 0.05 ms, well inside 2 ms.
      assert.ok(
        shortWait.sleeps >= STEPS / 2,
        `with a 0.05 ms spin rank 0 slept ${shortWait.sleeps} of ${STEPS} times`,
      );
      assert.ok(
        ownWait.sleeps < shortWait.sleeps / 2,
        `with the pair's 2 ms spin rank 0 slept ${ownWait.sleeps} times, with 0.05 ms ${shortWait.sleeps}`,
      );
    },
  );

  test(
    'both ranks of a pair take an event-loop turn after the same all-reduce when either wants one',
    { timeout: 60_000 },
    async () => {
      const reports = await pairOnThreads({ turns: true });
      for (const r of reports) assert.equal(r.mismatches, 0, `rank ${r.rank}: every sum exact`);
      const either = Array.from({ length: STEPS }, (_, s) => s).filter((s) => s % 3 === 0 || s % 5 === 0);
      assert.deepEqual(reports[0]?.turns, either, "rank 0's turns: its own wishes and its peer's");
      assert.deepEqual(reports[1]?.turns, either, "rank 1's turns: the same steps");
    },
  );
}

/** Runs a pair's two ranks on two threads; their reports, in rank order. */
async function pairOnThreads(extra: { handOverSpinMs?: number | null; turns?: boolean }): Promise<RankReport[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-futex-'));
  const { port1, port2 } = new MessageChannel();
  const workers = [port1, port2].map(
    (port, rank) => new Worker(__filename, { workerData: { rank, port, dir, ...extra }, transferList: [port] }),
  );
  try {
    const reports = await Promise.all(
      workers.map(
        (w) =>
          new Promise<RankReport & { error?: string }>((resolve, reject) => {
            w.once('message', resolve);
            w.once('error', reject);
          }),
      ),
    );
    for (const r of reports) assert.equal(r.error, undefined, r.error);
    return reports;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
