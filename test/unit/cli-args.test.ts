import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { parseArgs } from '../../src/cli/args';
import { nprocOf } from '../../src/cli/cpu-flags';
import { allowedCpus } from '../../src/launcher';
import { closestName } from '../../src/config/suggest';

test('a value flag followed by another flag is a missing value, not a value that starts with --', () => {
  assert.throws(() => parseArgs(['--out', '--nproc', '2'], ['out', 'nproc']), /--out needs a value/);
  assert.throws(() => parseArgs(['--out'], ['out']), /--out needs a value/);
  // Spelt out with '=', a value may start with anything; single-dash values stay values.
  assert.equal(parseArgs(['--out=--odd'], ['out']).flags.get('out'), '--odd');
  assert.equal(parseArgs(['--out', '-1'], ['out']).flags.get('out'), '-1');
  assert.throws(
    () => parseArgs(['--nprocs', '2'], ['nproc']),
    /unknown option --nprocs \(did you mean --nproc\?\); this command takes --nproc, --set/,
  );
});

test('a misspelt flag or command is matched to the nearest name, and a wild guess to none', () => {
  assert.equal(closestName('nprocs', ['nproc', 'out', 'resume']), 'nproc');
  assert.equal(closestName('lanch', ['launch', 'coordinator', 'worker']), 'launch');
  assert.equal(closestName('Coordinater', ['launch', 'coordinator']), 'coordinator');
  assert.equal(closestName('xyz', ['launch', 'worker']), undefined);
  assert.equal(closestName('cpu', ['cpus', 'cpu-bind']), 'cpus');
  // No suggestion for an option nothing resembles: the message lists the valid ones instead.
  assert.throws(
    () => parseArgs(['--zzzz', '1'], ['nproc']),
    (e: Error) => !/did you mean/.test(e.message) && /takes --nproc/.test(e.message),
  );
});

test('launch --nproc takes a count or auto (one worker per CPU this process may use), and refuses anything else naming both', () => {
  const nproc = (argv: string[], cpus = 6): number => nprocOf(parseArgs(argv, ['nproc']), () => cpus);
  assert.equal(nproc([]), 2);
  assert.equal(nproc(['--nproc', '3']), 3);
  assert.equal(nproc(['--nproc', 'auto']), 6);
  assert.equal(nproc(['--nproc=auto'], 0), 1, 'at least one worker');
  assert.equal(
    nprocOf(parseArgs(['--nproc', 'auto'], ['nproc'])),
    allowedCpus().length,
    'by default auto counts the CPUs this process may use',
  );
  for (const bad of ['0', '2.5', 'all', '1025']) {
    assert.throws(
      () => nproc(['--nproc', bad]),
      new RegExp(
        `--nproc must be an integer in 1\\.\\.1024 or auto \\(one worker per CPU this process may use\\), got '${bad.replace('.', '\\.')}'`,
      ),
    );
  }
});
