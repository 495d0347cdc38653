import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { hungTarget, type Supervised } from '../../src/launcher/hung-processes';

const coordinator: Supervised = { name: 'coordinator', proc: { pid: 100 } };
const rank0: Supervised = { name: 'rank 0', proc: { pid: 101 } };
const rank1: Supervised = { name: 'rank 1', proc: { pid: 102 } };
const all = [coordinator, rank0, rank1];

test('the coordinator naming a worker id of this host picks that worker by pid', () => {
  const v = hungTarget(
    coordinator,
    { kind: 'worker-lost', workerId: 'box-102', rank: 1, reason: 'sent no heartbeat for 3.1 s' },
    all,
    'box',
  );
  assert.equal(v?.child, rank1);
  assert.equal(v?.why, 'the coordinator declared rank 1 (pid 102) lost: sent no heartbeat for 3.1 s');
});

test('a worker id of another host, an exited worker, or a worker speaking for another worker names nobody', () => {
  assert.equal(hungTarget(coordinator, { kind: 'worker-lost', workerId: 'other-102' }, all, 'box'), undefined);
  assert.equal(
    hungTarget(
      coordinator,
      { kind: 'worker-lost', workerId: 'box-102' },
      [coordinator, rank0, { ...rank1, done: true }],
      'box',
    ),
    undefined,
  );
  assert.equal(hungTarget(rank0, { kind: 'worker-lost', workerId: 'box-102' }, all, 'box'), undefined);
  assert.equal(hungTarget(coordinator, 'worker-lost', all, 'box'), undefined);
});

test('a worker that lost the coordinator names the live coordinator; the coordinator cannot name itself', () => {
  const v = hungTarget(rank0, { kind: 'coordinator-lost', reason: 'no answer for 10.2 s' }, all, 'box');
  assert.equal(v?.child, coordinator);
  assert.equal(v?.why, 'rank 0 lost the coordinator (pid 100): no answer for 10.2 s');
  assert.equal(hungTarget(coordinator, { kind: 'coordinator-lost' }, all, 'box'), undefined);
  assert.equal(
    hungTarget(rank0, { kind: 'coordinator-lost' }, [{ ...coordinator, done: true }, rank0], 'box'),
    undefined,
  );
});
