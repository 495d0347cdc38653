import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GC_TRACK, TraceWriter } from '../../src/observe/trace-writer';
import { mergeTraceFiles, readTraceEvents } from '../../src/observe/trace-merge';

interface Ev {
  name: string;
  ph: string;
  pid: number;
  tid: number;
  ts?: number;
  dur?: number;
  cat?: string;
  args?: { step?: number; name?: string };
}

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-trace-'));

test("a trace file is a JSON array of complete events on the rank's named track", () => {
  const dir = tmp();
  const file = path.join(dir, 'trace.json');
  const t = new TraceWriter(file, 3);
  t.event({ name: 'compute', cat: 'step', ts: 10, dur: 2500, args: { step: 1 } });
  t.event({ name: 'exchange', cat: 'step', ts: 2510, dur: 900, args: { step: 1 } });
  // Before close: the viewers' "unterminated array" form still parses after adding the bracket.
  const partial = fs.readFileSync(file, 'utf8');
  assert.equal((JSON.parse(`${partial}]`) as unknown[]).length, 5);
  t.close();
  const events = JSON.parse(fs.readFileSync(file, 'utf8')) as Ev[];
  assert.deepEqual(
    events.map((e) => [e.name, e.ph, e.pid, e.tid]),
    [
      ['process_name', 'M', 3, 0],
      ['process_sort_index', 'M', 3, 0],
      ['thread_name', 'M', 3, 0],
      ['compute', 'X', 3, 0],
      ['exchange', 'X', 3, 0],
    ],
  );
  assert.equal(events[0]!.args?.name, 'rank 3');
  assert.equal(events[4]!.dur, 900);
  assert.equal(events[3]!.args?.step, 1);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('timestamps are wall-clock microseconds, so traces of different processes line up', () => {
  const dir = tmp();
  const t = new TraceWriter(path.join(dir, 'trace.json'), 0);
  const wall = Date.now() * 1000;
  // Date.now() has millisecond resolution; the two clocks agree to within a few of them.
  assert.ok(Math.abs(t.now() - wall) < 5_000, `now() ${t.now()} vs Date.now() ${wall} us`);
  assert.ok(Math.abs(t.wallTime(performance.now()) - t.now()) < 5_000);
  t.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('garbage-collection pauses land on the rank\'s "V8 GC" track', async () => {
  const dir = tmp();
  const file = path.join(dir, 'trace.json');
  const t = new TraceWriter(file, 1);
  t.traceGc();
  const from = t.now();
  // Short-lived garbage well beyond V8's young generation forces scavenges.
  let keep = 0;
  for (let i = 0; i < 400_000; i++) keep += new Array(64).fill(i).length;
  assert.equal(keep, 400_000 * 64);
  // perf_hooks hands GC entries to observers asynchronously.
  await new Promise((r) => setTimeout(r, 100));
  const to = t.now();
  t.close();
  const events = JSON.parse(fs.readFileSync(file, 'utf8')) as Ev[];
  assert.ok(
    events.some((e) => e.ph === 'M' && e.name === 'thread_name' && e.tid === GC_TRACK && e.args?.name === 'V8 GC'),
  );
  const gcs = events.filter((e) => e.cat === 'gc');
  assert.ok(gcs.length > 0, 'no GC event recorded');
  for (const e of gcs) {
    assert.equal(e.tid, GC_TRACK);
    assert.match(e.name, /GC|marking|weak callbacks/);
    assert.ok(
      (e.ts as number) >= from - 1000 && (e.ts as number) <= to && (e.dur as number) >= 0,
      `GC at ${e.ts} outside ${from}..${to}`,
    );
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test("merging puts every rank's events into one trace, including a rank that never closed its file", () => {
  const dir = tmp();
  const a = new TraceWriter(path.join(dir, 'a.json'), 0);
  a.event({ name: 'compute', cat: 'step', ts: 1, dur: 2 });
  a.close();
  const b = new TraceWriter(path.join(dir, 'b.json'), 1);
  b.event({ name: 'exchange', cat: 'step', ts: 3, dur: 4 });
  // b crashed: its file has no closing bracket.
  assert.ok(!fs.readFileSync(path.join(dir, 'b.json'), 'utf8').trimEnd().endsWith(']'));
  const n = mergeTraceFiles([path.join(dir, 'a.json'), path.join(dir, 'b.json')], path.join(dir, 'all.json'));
  const merged = JSON.parse(fs.readFileSync(path.join(dir, 'all.json'), 'utf8')) as Ev[];
  assert.equal(n, merged.length);
  assert.deepEqual(
    merged.filter((e) => e.ph === 'X').map((e) => [e.pid, e.name]),
    [
      [0, 'compute'],
      [1, 'exchange'],
    ],
  );
  assert.deepEqual(
    merged.filter((e) => e.name === 'process_name').map((e) => e.args?.name),
    ['rank 0', 'rank 1'],
  );
  b.close();
  fs.writeFileSync(path.join(dir, 'bad.json'), '{"not": "a trace"}');
  assert.throws(
    () => readTraceEvents(path.join(dir, 'bad.json')),
    /bad\.json is not a trace \(expected a JSON array of events\)/,
  );
  fs.rmSync(dir, { recursive: true, force: true });
});
