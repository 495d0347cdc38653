import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { parseArgs } from '../../src/cli/args';

test('a value flag followed by another flag is a missing value, not a value that starts with --', () => {
  assert.throws(() => parseArgs(['--out', '--nproc', '2'], ['out', 'nproc']), /--out needs a value/);
  assert.throws(() => parseArgs(['--out'], ['out']), /--out needs a value/);
  // Spelt out with '=', a value may start with anything; single-dash values stay values.
  assert.equal(parseArgs(['--out=--odd'], ['out']).flags.get('out'), '--odd');
  assert.equal(parseArgs(['--out', '-1'], ['out']).flags.get('out'), '-1');
  assert.throws(() => parseArgs(['--nprocs', '2'], ['nproc']), /unknown option --nprocs; this command takes --nproc, --set/);
});
