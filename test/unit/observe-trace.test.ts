import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TraceWriter } from '../../src/observe/trace-writer';

test('a trace file is a JSON array of complete events on the rank\'s track', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-trace-'));
  const file = path.join(dir, 'trace.json');
  const t = new TraceWriter(file, 3);
  t.event({ name: 'compute', cat: 'step', ts: 10, dur: 2500, args: { step: 1 } });
  t.event({ name: 'communication', cat: 'step', ts: 2510, dur: 900, args: { step: 1 } });
  // Before close: the viewers' "unterminated array" form still parses after adding the bracket.
  const partial = fs.readFileSync(file, 'utf8');
  assert.equal((JSON.parse(`${partial}]`) as unknown[]).length, 3);
  t.close();
  const events = JSON.parse(fs.readFileSync(file, 'utf8')) as { name: string; ph: string; pid: number; dur?: number; args?: { step?: number } }[];
  assert.deepEqual(events.map((e) => [e.name, e.ph, e.pid]), [['process_name', 'M', 3], ['compute', 'X', 3], ['communication', 'X', 3]]);
  assert.equal(events[2]!.dur, 900);
  assert.equal(events[1]!.args?.step, 1);
  fs.rmSync(dir, { recursive: true, force: true });
});
