import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import {
  PLAIN_PROGRESS_INTERVAL_MS,
  ProgressDisplay,
  epochEta,
  formatDuration,
  formatEpoch,
  formatProgressBar,
  formatProgressPlain,
  oversubscriptionNote,
  transportTip,
  type LogRecord,
} from '../../src/launcher/format';

const ESC = '\u001b';

function progress(stepInEpoch: number, elapsedSec: number): LogRecord {
  return {
    event: 'progress',
    rank: 0,
    epoch: 2,
    epochs: 3,
    stepInEpoch,
    stepsInEpoch: 160,
    step: 160 + stepInEpoch,
    loss: 0.23456,
    samplesPerSec: 4321.4,
    elapsedSec,
  };
}

const EPOCH: LogRecord = {
  event: 'epoch',
  rank: 0,
  epoch: 2,
  epochs: 3,
  train: { loss: 0.2, accuracy: 0.94 },
  val: { loss: 0.18, accuracy: 0.95 },
  samplesPerSec: 4000,
  seconds: 12.5,
  time: { data: 1, compute: 6, communication: 2.5, update: 0.5 },
};

test('durations read as a clock and the ETA follows the epoch’s pace so far', () => {
  assert.equal(formatDuration(8.4), '0:08');
  assert.equal(formatDuration(65), '1:05');
  assert.equal(formatDuration(3 * 3600 + 2 * 60 + 3), '3:02:03');
  assert.equal(formatDuration(NaN), '--:--');
  // 40 of 160 steps in 10 s: 120 steps left at 0.25 s each.
  assert.equal(epochEta(progress(40, 10)), 30);
  assert.ok(Number.isNaN(epochEta(progress(0, 0))));
});

test('the progress bar shows epoch, bar, step, samples/s, loss and ETA within the terminal width', () => {
  const line = formatProgressBar(progress(40, 10), 100);
  // A quarter of a 39-column bar: 9 '=' and the head.
  assert.equal(line, `epoch 2/3 [${'='.repeat(9)}>${' '.repeat(29)}]  40/160  4,321 samples/s  loss 0.2346  ETA 0:30`);
  assert.ok(line.length <= 99);
  const narrow = formatProgressBar(progress(160, 40), 60);
  assert.ok(narrow.length <= 59, narrow);
  assert.match(narrow, /^epoch 2\/3 \[=+\]/);
  assert.equal(
    formatProgressPlain(progress(40, 10)),
    'epoch 2/3  step  40/160  4,321 samples/s  loss 0.2346  ETA 0:30',
  );
});

test('on a terminal the bar is redrawn in place and permanent lines go above it', () => {
  const out: string[] = [];
  const d = new ProgressDisplay({ isTTY: true, columns: 100, write: (t) => out.push(t) });
  d.progress(progress(40, 10));
  d.progress(progress(80, 20));
  d.line('rank 1: warning: slow disk');
  d.epochDone(formatEpoch(EPOCH));
  const bar80 = formatProgressBar(progress(80, 20), 100);
  assert.deepEqual(out, [
    `\r${ESC}[2K${formatProgressBar(progress(40, 10), 100)}`,
    `\r${ESC}[2K${bar80}`,
    `\r${ESC}[2Krank 1: warning: slow disk\n${bar80}`,
    `\r${ESC}[2K`,
    `${formatEpoch(EPOCH)}\n`,
  ]);
});

test('off a terminal there are no escape codes, and progress comes as a plain line at most every 30 s', () => {
  const out: string[] = [];
  let now = 0;
  const d = new ProgressDisplay({ isTTY: false, write: (t) => out.push(t) }, () => now);
  for (let step = 1; step <= 160; step++) {
    now += 500;
    d.progress(progress(step, step * 0.5));
    if (step === 100) d.line('rank 0: warning: over-fitting');
  }
  d.epochDone(formatEpoch(EPOCH));
  d.clear();
  const text = out.join('');
  assert.ok(!text.includes(ESC), JSON.stringify(text));
  // 160 steps x 0.5 s = 80 s: the first record starts the clock, then one line per 30 s.
  const plain = out.filter((l) => l.startsWith('epoch 2/3  step'));
  assert.deepEqual(plain, [
    `${formatProgressPlain(progress(61, 30.5))}\n`,
    `${formatProgressPlain(progress(121, 60.5))}\n`,
  ]);
  assert.equal(PLAIN_PROGRESS_INTERVAL_MS, 30_000);
  assert.deepEqual(
    out.filter((l) => !l.startsWith('epoch 2/3  step')),
    ['rank 0: warning: over-fitting\n', `${formatEpoch(EPOCH)}\n`],
  );
});

test('a regression epoch line shows the mean absolute error instead of a NaN accuracy', () => {
  const line = formatEpoch({
    epoch: 1,
    epochs: 2,
    train: { loss: 0.5, accuracy: NaN, mae: 0.25 },
    val: { loss: 0.6, accuracy: NaN, mae: 0.3 },
    samplesPerSec: 100,
    seconds: 1,
  });
  assert.match(line, /train loss 0\.5000 mae 0\.2500 {2}val loss 0\.6000 mae 0\.3000/);
  assert.doesNotMatch(line, /NaN/);
});

test('an epoch record with no train figures (NaN arrives as null through JSON) prints dashes instead of crashing', () => {
  const line =
    '{"level":30,"event":"epoch","rank":0,"epoch":1,"epochs":3,"train":{"loss":null,"accuracy":null,"samples":0},"val":{"loss":0.3522,"accuracy":0.8965},"samplesPerSec":0,"seconds":0.01}';
  const rec = JSON.parse(line) as LogRecord;
  assert.equal(formatEpoch(rec), 'epoch 1/3  train loss - acc -  val loss 0.3522 acc 89.65%  0 samples/s  0.0 s');
  assert.equal(
    formatEpoch({ ...rec, train: undefined, val: undefined }),
    'epoch 1/3  train loss - acc -  val loss - acc -  0 samples/s  0.0 s',
  );
});

test('a gRPC launch of 3 or more workers that spent a large share of its steps communicating ends with the tcp tip, and only then', () => {
  const epoch = (communication: number): LogRecord => ({
    event: 'epoch',
    rank: 0,
    time: { data: 3, compute: 45, communication, update: 7 },
  });
  const tip = transportTip('grpc', 3, epoch(45));
  assert.equal(
    tip,
    "ringtrain: tip: communication took 45% of the last epoch's steps; all workers share this host, where the tcp transport passes payloads between neighbours through shared memory: --set cluster.transport=tcp",
  );
  // At the threshold it shows; below, on tcp already, with 2 workers (they share a file on
  // either transport), alone or without timings it does not.
  assert.match(
    transportTip('grpc', 4, { time: { data: 0, compute: 3, communication: 1, update: 0 } }) ?? '',
    /took 25%/,
  );
  assert.equal(transportTip('grpc', 3, epoch(10)), undefined);
  assert.equal(transportTip('tcp', 3, epoch(45)), undefined);
  assert.equal(transportTip('grpc', 2, epoch(45)), undefined);
  assert.equal(transportTip('grpc', 1, epoch(45)), undefined);
  assert.equal(transportTip('grpc', 3, { event: 'epoch' }), undefined);
  assert.equal(transportTip('grpc', 3, undefined), undefined);
  assert.equal(transportTip('grpc', 3, { time: { data: 0, compute: 0, communication: 0, update: 0 } }), undefined);
});

test('the epoch line splits communication into the wait for slower peers when the worker reports it', () => {
  const rec: LogRecord = {
    event: 'epoch',
    rank: 0,
    epoch: 2,
    epochs: 3,
    train: { loss: 0.1, accuracy: 0.97 },
    val: { loss: 0.1, accuracy: 0.97 },
    samplesPerSec: 1000,
    seconds: 1,
    time: { data: 0.05, compute: 0.5, communication: 0.4, update: 0.05, peerWait: 0.3 },
  };
  assert.match(formatEpoch(rec), /\[data 5% compute 50% comm 40% \(peer wait 30%\) update 5%\]$/);
  // Workers that do not report it, and a run without communication, keep the plain split.
  assert.match(
    formatEpoch({ ...rec, time: { data: 0.05, compute: 0.5, communication: 0.4, update: 0.05 } }),
    /comm 40% update 5%\]$/,
  );
  assert.match(
    formatEpoch({ ...rec, time: { data: 0.1, compute: 0.8, communication: 0, update: 0.1, peerWait: 0 } }),
    /comm 0% update 10%\]$/,
  );
});

test('a launch with more workers than usable CPUs says so and names the worker count that fits', () => {
  assert.equal(oversubscriptionNote(2, 2), undefined);
  assert.equal(oversubscriptionNote(1, 8), undefined);
  assert.equal(oversubscriptionNote(3, 0), undefined, 'unknown CPU count: no guess');
  assert.equal(
    oversubscriptionNote(3, 2),
    'ringtrain: note: 3 workers on 2 CPUs this process may use: workers will share cores and every step waits for the slowest (shared-memory polling is off); --nproc 2 is likely faster',
  );
  assert.match(
    oversubscriptionNote(2, 1) as string,
    /2 workers on 1 CPU this process may use: .* --nproc 1 is likely faster$/,
  );
});
