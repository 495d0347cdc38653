import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { createLogger } from '../../src/observe';
import { memoryDestination } from './support';

test('a worker logger writes one JSON line bound to job, role and rank', () => {
  const dest = memoryDestination();
  const log = createLogger({ job: 'mnist', role: 'worker', rank: 3, destination: dest.stream });
  log.info({ step: 7 }, 'step done');
  const lines = dest.lines();
  assert.equal(lines.length, 1);
  assert.equal(lines[0].job, 'mnist');
  assert.equal(lines[0].role, 'worker');
  assert.equal(lines[0].rank, 3);
  assert.equal(lines[0].step, 7);
  assert.equal(lines[0].msg, 'step done');
  assert.equal(lines[0].level, 30);
  assert.equal(typeof lines[0].time, 'string');
});

test('a coordinator logger has no rank field', () => {
  const dest = memoryDestination();
  createLogger({ job: 'mnist', role: 'coordinator', destination: dest.stream }).warn('no workers yet');
  const [line] = dest.lines();
  assert.equal(line.role, 'coordinator');
  assert.equal('rank' in line, false);
});

test('a child logger for a ring binds its generation to every later line', () => {
  const dest = memoryDestination();
  const log = createLogger({ job: 'mnist', role: 'worker', rank: 1, destination: dest.stream });
  const gen2 = log.child({ generation: 2 });
  gen2.info('ring formed');
  gen2.error({ peer: 2 }, 'peer lost');
  log.info('outside any ring');
  const lines = dest.lines();
  assert.deepEqual(
    lines.map((l) => [l.msg, l.generation, l.rank, l.job]),
    [
      ['ring formed', 2, 1, 'mnist'],
      ['peer lost', 2, 1, 'mnist'],
      ['outside any ring', undefined, 1, 'mnist'],
    ],
  );
});

test('the level option drops lines below it', () => {
  const dest = memoryDestination();
  const log = createLogger({ job: 'j', role: 'launcher', level: 'warn', destination: dest.stream });
  log.info('hidden');
  log.debug('hidden too');
  log.warn('shown');
  assert.deepEqual(
    dest.lines().map((l) => l.msg),
    ['shown'],
  );
});
