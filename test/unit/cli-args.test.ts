import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { parseArgs } from '../../src/cli/args';
import { closestName } from '../../src/config/suggest';

test('a value flag followed by another flag is a missing value, not a value that starts with --', () => {
  assert.throws(() => parseArgs(['--out', '--nproc', '2'], ['out', 'nproc']), /--out needs a value/);
  assert.throws(() => parseArgs(['--out'], ['out']), /--out needs a value/);
  // Spelt out with '=', a value may start with anything; single-dash values stay values.
  assert.equal(parseArgs(['--out=--odd'], ['out']).flags.get('out'), '--odd');
  assert.equal(parseArgs(['--out', '-1'], ['out']).flags.get('out'), '-1');
  assert.throws(() => parseArgs(['--nprocs', '2'], ['nproc']), /unknown option --nprocs \(did you mean --nproc\?\); this command takes --nproc, --set/);
});

test('a misspelt flag or command is matched to the nearest name, and a wild guess to none', () => {
  assert.equal(closestName('nprocs', ['nproc', 'out', 'resume']), 'nproc');
  assert.equal(closestName('lanch', ['launch', 'coordinator', 'worker']), 'launch');
  assert.equal(closestName('Coordinater', ['launch', 'coordinator']), 'coordinator');
  assert.equal(closestName('xyz', ['launch', 'worker']), undefined);
  assert.equal(closestName('cpu', ['cpus', 'cpu-bind']), 'cpus');
  // No suggestion for an option nothing resembles: the message lists the valid ones instead.
  assert.throws(() => parseArgs(['--zzzz', '1'], ['nproc']), (e: Error) => !/did you mean/.test(e.message) && /takes --nproc/.test(e.message));
});
