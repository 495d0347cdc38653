import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { parseArgs } from '../../src/cli/args';
import { TORCHRUN_FLAGS, coordinatorOf, foldTorchrunFlags, worldSizeSets } from '../../src/cli/torchrun-names';
import { exportRankEnv, localRankOf } from '../../src/worker/rank-env';

const launchArgs = (argv: string[]) => foldTorchrunFlags(parseArgs(argv, ['nproc', 'out', ...TORCHRUN_FLAGS]));

test('--nproc-per-node is --nproc and --max-restarts N becomes cluster.maxRestarts=N after the other --set values', () => {
  const a = launchArgs([
    '--nproc-per-node',
    '4',
    '--max-restarts',
    '3',
    '--set',
    'cluster.maxRestarts=1',
    'train.epochs=2',
  ]);
  assert.equal(a.flags.get('nproc'), '4');
  assert.equal(a.flags.has('nproc-per-node'), false);
  assert.deepEqual(a.sets, ['cluster.maxRestarts=1', 'train.epochs=2', 'cluster.maxRestarts=3']);
  assert.equal(launchArgs(['--nproc-per-node=auto']).flags.get('nproc'), 'auto');
});

test('both spellings of the worker count, or a bad restart count, are refused with the fix', () => {
  assert.throws(
    () => launchArgs(['--nproc', '2', '--nproc-per-node', '4']),
    /--nproc 2 and --nproc-per-node 4 both given: they are the same option, keep one/,
  );
  assert.throws(() => launchArgs(['--max-restarts', '-1']), /--max-restarts must be an integer in 0\.\.1000, got '-1'/);
  assert.throws(() => launchArgs(['--max-restarts', 'many']), /got 'many'/);
});

test('the coordinator comes from --coordinator, then RINGTRAIN_COORDINATOR, then MASTER_ADDR:MASTER_PORT', () => {
  const master = { MASTER_ADDR: 'trainer-master-0', MASTER_PORT: '23456' };
  assert.equal(coordinatorOf('a:1', { RINGTRAIN_COORDINATOR: 'b:2', ...master }), 'a:1');
  assert.equal(coordinatorOf(undefined, { RINGTRAIN_COORDINATOR: 'b:2', ...master }), 'b:2');
  assert.equal(coordinatorOf(undefined, master), 'trainer-master-0:23456');
  assert.throws(() => coordinatorOf(undefined, { MASTER_ADDR: 'x' }), /MASTER_ADDR='x' and MASTER_PORT='': set both/);
  assert.throws(
    () => coordinatorOf(undefined, { MASTER_ADDR: 'x', MASTER_PORT: 'http' }),
    /got 'x:http' from MASTER_ADDR:MASTER_PORT/,
  );
  assert.throws(() => coordinatorOf(undefined, {}), /worker needs the coordinator as HOST:PORT/);
});

test('WORLD_SIZE sets cluster.worldSize over the job file and RINGTRAIN_SET; a --set that disagrees is refused', () => {
  assert.deepEqual(worldSizeSets({}, ['a=1']), ['a=1']);
  // In the --set layer, so it overrides the file and RINGTRAIN_SET, and a later --set could only agree.
  assert.deepEqual(worldSizeSets({ WORLD_SIZE: '4', RINGTRAIN_SET: 'cluster.worldSize=2' }, ['a=1']), [
    'cluster.worldSize=4',
    'a=1',
  ]);
  assert.deepEqual(worldSizeSets({ WORLD_SIZE: '4' }, ['cluster.worldSize=4']), [
    'cluster.worldSize=4',
    'cluster.worldSize=4',
  ]);
  assert.throws(
    () => worldSizeSets({ WORLD_SIZE: '4' }, ['cluster.worldSize=2']),
    /WORLD_SIZE=4 but cluster.worldSize=2 was set too/,
  );
  assert.throws(() => worldSizeSets({ WORLD_SIZE: '0' }, []), /WORLD_SIZE must be an integer in 1\.\.4096, got '0'/);
});

test('RANK, LOCAL_RANK and WORLD_SIZE are exported as torchrun sets them', () => {
  const env: NodeJS.ProcessEnv = { LOCAL_RANK: '3' };
  assert.equal(localRankOf(env), 3);
  assert.equal(localRankOf({}), 0);
  assert.equal(localRankOf({ LOCAL_RANK: 'x' }), 0);
  exportRankEnv({ rank: 7, worldSize: 8, localRank: localRankOf(env) }, env);
  assert.deepEqual(env, { RANK: '7', WORLD_SIZE: '8', LOCAL_RANK: '3' });
});
