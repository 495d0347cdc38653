import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isRingtrainError } from '../../src/core/errors';
import { ScalarEventEncoder, encodeSummaryEvent } from '../../src/observe/tensorboard-proto';
import { decodeEvent, eventFilesIn, readEventFile, scalarsByTag } from '../../src/observe/tensorboard-reader';
import { crc32c, frameRecord, maskedCrc32c, splitRecords } from '../../src/observe/tensorboard-records';
import { EventFileWriter } from '../../src/observe/tensorboard-writer';

/** Written by TensorFlow 2's tf.summary.scalar("my_metric", 0.5 * step) for steps 0..99. */
const FIXTURE = path.resolve(__dirname, '../../../test/fixtures/tfevents/events.out.tfevents.1585499054.v2');

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-tb-'));
}

test('crc32c matches the Castagnoli check value and masking follows TensorFlow', () => {
  // The standard CRC-32C check value of "123456789" (RFC 3720, appendix B.4).
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  const c = 0xe3069283;
  assert.equal(maskedCrc32c(Buffer.from('123456789')), ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0);
});

test('the TensorFlow 2 fixture decodes into 101 records with both CRCs checked and my_metric = 0.5 x step', () => {
  const bytes = fs.readFileSync(FIXTURE);
  const split = splitRecords(bytes);
  assert.equal(split.records.length, 101);
  assert.equal(split.trailingBytes, 0);
  const { events } = readEventFile(FIXTURE);
  assert.equal(events[0]?.fileVersion, 'brain.Event:2');
  assert.deepEqual(events[0]?.values, []);
  const rest = events.slice(1);
  assert.deepEqual(
    rest.map((e) => e.step),
    Array.from({ length: 100 }, (_, i) => i),
  );
  for (const e of rest) {
    assert.equal(e.values.length, 1);
    assert.equal(e.values[0]?.tag, 'my_metric');
    assert.equal(e.values[0]?.plugin, 'scalars');
    assert.equal(e.values[0]?.scalar, 0.5 * e.step);
    // Written on 2020-03-29 (the name's timestamp is 1585499054).
    assert.ok(Math.abs(e.wallTime - 1585499054) < 60, `wall time ${e.wallTime}`);
  }
  assert.deepEqual(
    scalarsByTag(events)
      .get('my_metric')
      ?.map((p) => p.value),
    Array.from({ length: 100 }, (_, i) => 0.5 * i),
  );
});

test('the writer frames a scalar byte for byte as TensorFlow 2 does', () => {
  const bytes = fs.readFileSync(FIXTURE);
  const { records } = splitRecords(bytes);
  let offset = 0;
  for (const [i, rec] of records.entries()) {
    const framedLength = 16 + rec.length;
    if (i > 0) {
      const tf = decodeEvent(rec);
      const ours = frameRecord(
        encodeSummaryEvent(tf.wallTime, tf.step, [{ tag: 'my_metric', kind: 'scalar', value: 0.5 * tf.step }]),
      );
      assert.deepEqual(ours, bytes.subarray(offset, offset + framedLength), `record ${i} (step ${tf.step}) differs`);
    }
    offset += framedLength;
  }
});

test('scalars and histograms written by EventFileWriter read back with every CRC checked', () => {
  const dir = tempDir();
  let now = 1_700_000_000.25;
  const w = new EventFileWriter(dir, { clock: () => now });
  const loss = [2.3, 1.1, 0.7, 0.45, 0.3];
  loss.forEach((l, step) => {
    now += 0.5;
    w.scalar('loss/train', l, step * 100);
  });
  w.scalars(500, { 'loss/val': 0.41, 'accuracy/val': 0.9 });
  const histogram = { min: -1, max: 2, num: 6, sum: 3, sumSquares: 9, bucketLimits: [0, 1, 2], buckets: [1, 3, 2] };
  w.histogram('weights/dense', histogram, 500);
  w.close();
  w.close();

  const files = eventFilesIn(dir);
  assert.equal(files.length, 1);
  assert.match(path.basename(files[0]!), /^events\.out\.tfevents\.1700000000\./);
  const { events, trailingBytes } = readEventFile(files[0]!);
  assert.equal(trailingBytes, 0);
  assert.equal(events.length, 1 + loss.length + 2);
  assert.equal(events[0]?.fileVersion, 'brain.Event:2');
  const scalars = scalarsByTag(events);
  assert.deepEqual(
    scalars.get('loss/train')?.map((p) => [p.step, p.value]),
    loss.map((l, i) => [i * 100, Math.fround(l)]),
  );
  assert.deepEqual(
    scalars.get('loss/train')?.map((p) => p.wallTime),
    loss.map((_, i) => 1_700_000_000.25 + 0.5 * (i + 1)),
  );
  assert.equal(scalars.get('loss/val')?.[0]?.value, Math.fround(0.41));
  assert.equal(scalars.get('accuracy/val')?.[0]?.step, 500);
  const hist = events.at(-1)?.values[0];
  assert.equal(hist?.tag, 'weights/dense');
  assert.deepEqual(hist?.histogram, histogram);
});

test('a flipped byte fails the data CRC, naming the record; a torn last record is reported, not thrown', () => {
  const dir = tempDir();
  const w = new EventFileWriter(dir, { clock: () => 1_700_000_000 });
  w.scalar('a', 1, 1);
  w.scalar('a', 2, 2);
  w.close();
  const file = eventFilesIn(dir)[0]!;
  const good = fs.readFileSync(file);

  const corrupt = Buffer.from(good);
  corrupt[corrupt.length - 8] = (corrupt[corrupt.length - 8] as number) ^ 0xff;
  assert.throws(
    () => splitRecords(corrupt, 'x.tfevents'),
    (e: unknown) =>
      isRingtrainError(e) && e.code === 'DATA_INVALID' && /x\.tfevents: record 2 .* data CRC/.test(e.message),
  );

  const badLength = Buffer.from(good);
  badLength[0] = (badLength[0] as number) + 1;
  assert.throws(() => splitRecords(badLength), /record 0 at byte 0 has length CRC/);

  const torn = good.subarray(0, good.length - 5);
  const split = splitRecords(torn);
  assert.equal(split.records.length, 2);
  assert.ok(split.trailingBytes > 0);
});

test('records reach the file within the flush interval without a close', () => {
  const dir = tempDir();
  let now = 1_700_000_000;
  const w = new EventFileWriter(dir, { clock: () => now, flushIntervalMs: 1000 });
  const file = eventFilesIn(dir)[0]!;
  w.scalar('a', 1, 1);
  assert.equal(readEventFile(file).events.length, 1, 'held in memory at first');
  now += 1.5;
  w.scalar('a', 2, 2);
  assert.deepEqual(
    scalarsByTag(readEventFile(file).events)
      .get('a')
      ?.map((p) => p.value),
    [1, 2],
  );
  w.close();
});

test('per-step scalars are encoded when the file is flushed, in call order among histograms, with the wall time of their call and the values as they were then', () => {
  const dir = tempDir();
  let now = 1_700_000_000;
  const w = new EventFileWriter(dir, { clock: () => now, flushIntervalMs: 1000 });
  const file = eventFilesIn(dir)[0]!;
  const values = { 'batch/loss': 1.5 };
  w.scalars(1, values);
  // The caller's object is copied: a later change is not what step 1 recorded.
  values['batch/loss'] = 9;
  now += 0.25;
  w.histogram('weights/w', { min: 0, max: 1, num: 1, sum: 1, sumSquares: 1, bucketLimits: [1], buckets: [1] }, 1);
  now += 0.25;
  w.scalars(2, { 'batch/loss': 0.5 });
  assert.equal(readEventFile(file).events.length, 1, 'still in memory within the interval');
  now += 1;
  w.scalars(3, { 'batch/loss': 0.25 });
  const events = readEventFile(file).events.slice(1);
  assert.deepEqual(
    events.map((e) => [e.step, e.values[0]?.tag, e.wallTime]),
    [
      [1, 'batch/loss', 1_700_000_000],
      [1, 'weights/w', 1_700_000_000.25],
      [2, 'batch/loss', 1_700_000_000.5],
      [3, 'batch/loss', 1_700_000_001.5],
    ],
  );
  assert.deepEqual(
    scalarsByTag(events)
      .get('batch/loss')
      ?.map((p) => p.value),
    [1.5, 0.5, 0.25],
  );
  w.close();
});

test('the per-step scalar encoder writes the same bytes as the general one, for any step, values and tag set', () => {
  const enc = new ScalarEventEncoder();
  const tagSets = [
    ['batch/loss', 'batch/samples_per_sec', 'batch/learning_rate'],
    ['loss'],
    ['a/very/long/tag/name/that/needs/a/two/byte/length/'.repeat(4)],
  ];
  let seed = 3;
  const rand = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  for (const tags of tagSets) {
    for (const step of [0, 1, 127, 128, 300_000, 2 ** 40]) {
      const values = Object.fromEntries(tags.map((t) => [t, (rand() - 0.5) * 10 ** Math.floor(10 * rand() - 5)]));
      const wall = 1.7e9 + rand();
      const general = encodeSummaryEvent(
        wall,
        step,
        tags.map((tag) => ({ tag, kind: 'scalar' as const, value: values[tag] as number })),
      );
      assert.deepEqual(
        Buffer.from(enc.encode(wall, step, values)),
        Buffer.from(general),
        `tags ${tags.length}, step ${step}`,
      );
    }
  }
});
