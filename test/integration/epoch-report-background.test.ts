/**
 * Rank 0's epoch report to the coordinator goes out in the background: training does not wait
 * for the reply (its peers would wait through the round trip at the next step), reports stay in
 * order, a slow coordinator gets the queued ones in one call, and finish() reaches the coordinator
 * only after them, and calls come at most once per REPORT_EVERY_MS. The coordinator here is a
 * real gRPC server with the coordinator's service definition whose Report replies the test holds
 * back: a real coordinator answers too fast to show the difference.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { Communicator, MemoryHub } from '../../src/allreduce';
import type { RingtrainError } from '../../src/core';
import { DEFAULT_JOB } from '../../src/config';
import { createLogger } from '../../src/observe/logger';
import { RunRecorder } from '../../src/record';
import { bindServer, services, shutdownServer } from '../../src/rpc';
import { CoordinatorClient, type EpochReport } from '../../src/worker/coordinator-client';
import { reportEpoch } from '../../src/worker/epoch-report';
import { FullDiskGuard } from '../../src/worker/full-disk';
import type { EpochSummary } from '../../src/worker/train-types';
import { memoryDestination } from '../unit/support';

interface HeldCoordinator {
  address: string;
  /** Calls in the order they arrived: 'report:<epochs>' or 'finish'. */
  calls: string[];
  /** Replies to the Report calls held so far (optionally with an error). */
  release(error?: grpc.StatusObject): void;
  held(): number;
  stop(): Promise<void>;
}

async function heldCoordinator(): Promise<HeldCoordinator> {
  const calls: string[] = [];
  let held: grpc.sendUnaryData<object>[] = [];
  const server = new grpc.Server();
  const unimplemented = (_call: unknown, cb: grpc.sendUnaryData<object>): void =>
    cb({ code: grpc.status.UNIMPLEMENTED, details: 'not in this test' });
  server.addService(services().coordinator.service, {
    Join: unimplemented,
    Heartbeat: unimplemented,
    Status: unimplemented,
    Report: (
      call: grpc.ServerUnaryCall<{ epochs: { epoch: number; split: string }[] }, object>,
      cb: grpc.sendUnaryData<object>,
    ) => {
      calls.push(`report:${call.request.epochs.map((e) => `${e.epoch}${e.split}`).join(',')}`);
      held.push(cb);
    },
    Finish: (_call: unknown, cb: grpc.sendUnaryData<object>) => {
      calls.push('finish');
      cb(null, {});
    },
  });
  const port = await bindServer(server, '127.0.0.1', 0);
  return {
    address: `127.0.0.1:${port}`,
    calls,
    release(error) {
      const cbs = held;
      held = [];
      for (const cb of cbs) error === undefined ? cb(null, {}) : cb(error);
    },
    held: () => held.length,
    stop: () => shutdownServer(server, 100),
  };
}

function summary(epoch: number): EpochSummary {
  const split = { loss: 0.5, accuracy: 0.9, samples: 64 };
  return {
    epoch,
    epochs: 3,
    step: 10 * epoch,
    lr: 0.01,
    train: split,
    val: split,
    seconds: 1,
    samplesPerSec: 640,
    evalSamplesPerSec: 1000,
    time: { data: 0, compute: 0, communication: 0, update: 0, peerWait: 0 },
    gradNorm: 1,
    maxGradNorm: 1,
    firstGradNorm: 1,
    stepsInEpoch: 10,
    clippedSteps: 0,
    skippedSteps: 0,
    improved: true,
    stopEarly: false,
  };
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('an epoch report does not wait for the coordinator; finish() reaches it only after the reports', async () => {
  const coord = await heldCoordinator();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-report-'));
  const client = new CoordinatorClient(coord.address, 'report-test', 'w0', undefined, undefined, 0);
  const mem = memoryDestination();
  const log = createLogger({ job: 'report-test', role: 'worker', destination: mem.stream });
  const [transport] = new MemoryHub('report-test', 1).endpoints();
  const ctx = {
    spec: DEFAULT_JOB,
    outDir: dir,
    comm: new Communicator(transport as NonNullable<typeof transport>),
    recorder: new RunRecorder({ dir, rank: 0, worldSize: 1, epochs: 3 }),
    disk: new FullDiskGuard(() => log),
    client,
    log,
    rank: 0,
    world: 1,
    generation: 1,
  };
  try {
    // The first report reaches the coordinator, which does not answer: training goes on anyway.
    await reportEpoch(ctx, summary(1));
    await until('the first report', () => coord.held() === 1);
    // Two more epochs end while it is unanswered: they wait, then go together in one call.
    await reportEpoch(ctx, summary(2));
    await reportEpoch(ctx, summary(3));
    const finished = client.finish(true, '');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(coord.calls, ['report:1train,1val'], 'nothing else is sent while a report is unanswered');
    coord.release();
    await until('the queued reports', () => coord.held() === 1);
    coord.release();
    await finished;
    assert.deepEqual(coord.calls, ['report:1train,1val', 'report:2train,2val,3train,3val', 'finish']);
    // metrics.jsonl was written before the reports went out, as before.
    assert.equal(fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 6);
  } finally {
    client.close();
    await coord.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a failed background report is logged as a warning and does not stop the next one', async () => {
  const coord = await heldCoordinator();
  const client = new CoordinatorClient(coord.address, 'report-test', 'w0', undefined, undefined, 0);
  const failures: string[] = [];
  try {
    client.reportInBackground(1, 10, 640, [], (e) => failures.push(e.message));
    await until('the first report', () => coord.held() === 1);
    client.reportInBackground(1, 20, 1280, [], (e) => failures.push(e.message));
    coord.release({ code: grpc.status.UNAVAILABLE, details: 'coordinator restarting', metadata: new grpc.Metadata() });
    await until('the second report', () => coord.held() === 1);
    coord.release();
    await client.reportsSettled();
    assert.equal(failures.length, 1);
    assert.match(failures[0] as string, /coordinator restarting/);
    assert.deepEqual(coord.calls, ['report:', 'report:']);
  } finally {
    client.close();
    await coord.stop();
  }
});

test('epoch reports go at most once per interval: those in between wait and go together, and finish() sends them at once', async () => {
  const coord = await heldCoordinator();
  const everyMs = 400;
  const client = new CoordinatorClient(coord.address, 'report-test', 'w0', undefined, undefined, everyMs);
  const epoch = (e: number): EpochReport[] => [
    { epoch: e, split: 'train', loss: 0.5, accuracy: 0.9, samplesPerSec: 640, samples: 64 },
  ];
  const noError = (e: RingtrainError): void => assert.fail(e.message);
  try {
    const t0 = performance.now();
    client.reportInBackground(1, 10, 640, epoch(1), noError);
    await until('the first report', () => coord.held() === 1);
    coord.release();
    // Answered at once, yet the next two epochs wait out the interval, then go in one call.
    client.reportInBackground(1, 20, 1280, epoch(2), noError);
    client.reportInBackground(1, 30, 1920, epoch(3), noError);
    await new Promise((r) => setTimeout(r, everyMs / 4));
    assert.deepEqual(coord.calls, ['report:1train']);
    await until('the paced report', () => coord.held() === 1);
    const waited = performance.now() - t0;
    assert.ok(waited >= everyMs - 5, `the second call came ${waited.toFixed(0)} ms after the first`);
    assert.deepEqual(coord.calls, ['report:1train', 'report:2train,3train']);
    coord.release();
    // Within the next interval again, but the worker is finishing: the report and Finish go now.
    client.reportInBackground(1, 40, 2560, epoch(4), noError);
    const finished = client.finish(true, '');
    await until('the flushed report', () => coord.held() === 1, everyMs / 2);
    coord.release();
    await finished;
    assert.deepEqual(coord.calls, ['report:1train', 'report:2train,3train', 'report:4train', 'finish']);
  } finally {
    client.close();
    await coord.stop();
  }
});
