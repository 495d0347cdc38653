import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { credentialsRefusal, helloRefusal, helloText } from '../../src/allreduce/tcp-hello';
import type { Frame } from '../../src/allreduce/tcp-frame';

const ring = { job: 'mnist', generation: 3, rank: 1, worldSize: 3 };
const hello = (generation: number, fromRank: number): Frame => ({ generation, fromRank }) as Frame;

test('a HELLO must carry the job token and name before anything else is looked at', () => {
  assert.equal(credentialsRefusal(helloText('mnist', 's3cret'), 'mnist', 's3cret'), undefined);
  assert.equal(credentialsRefusal(helloText('mnist', undefined), 'mnist', undefined), undefined);
  assert.match(
    credentialsRefusal(helloText('mnist', undefined), 'mnist', 's3cret') ?? '',
    /^missing join token: set RINGTRAIN_JOIN_TOKEN/,
  );
  assert.equal(credentialsRefusal(helloText('mnist', 'guess'), 'mnist', 's3cret'), 'wrong join token');
  assert.equal(
    credentialsRefusal(helloText('cifar', 's3cret'), 'mnist', 's3cret'),
    "this worker runs job 'mnist', not 'cifar'",
  );
  // A stranger with the wrong token is refused as such even when it also names another job.
  assert.equal(credentialsRefusal(helloText('cifar', 'guess'), 'mnist', 's3cret'), 'wrong join token');
});

test('only the successor of this rank, in this generation, may dial it', () => {
  const text = helloText('mnist', 't');
  assert.equal(helloRefusal(hello(3, 2), text, 'mnist', 't', ring), undefined);
  assert.equal(helloRefusal(hello(3, 2), text, 'mnist', 't', undefined), 'this worker has not joined a ring yet');
  assert.equal(
    helloRefusal(hello(2, 2), text, 'mnist', 't', ring),
    'HELLO for generation 2, this ring is generation 3',
  );
  assert.equal(
    helloRefusal(hello(3, 0), text, 'mnist', 't', ring),
    'rank 0 dialed rank 1, but only rank 2 (its successor) receives from it',
  );
  assert.equal(helloRefusal(hello(3, 2), helloText('mnist', 'x'), 'mnist', 't', ring), 'wrong join token');
});
