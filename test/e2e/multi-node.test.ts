import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli, startCli, tempDir, waitFor } from './cli';

const JOB = ['--set', 'train.epochs=1', 'data.trainLimit=1280', 'data.testLimit=200'];
const TOKEN = { RINGTRAIN_JOIN_TOKEN: 'the-secret-both-nodes-share' };

test('two launchers, one per node, joined over loopback, train the same model as --nproc 2 on one machine', async () => {
  const dir = tempDir('nodes');
  const [n0, n1, one] = ['node0', 'node1', 'one'].map((d) => path.join(dir, d)) as [string, string, string];
  const node0 = startCli(
    [
      'launch',
      '--nproc',
      '1',
      '--nnodes',
      '2',
      '--node-rank',
      '0',
      '--coordinator',
      '127.0.0.1:0',
      '--out',
      n0,
      ...JOB,
    ],
    { timeoutMs: 120_000, env: TOKEN },
  );
  try {
    let printed = '';
    node0.child.stdout?.on('data', (d: Buffer) => (printed += d.toString()));
    // Port 0: node 0's coordinator takes a free port and prints it for the other nodes.
    const port = await waitFor(
      'node 0 to print its coordinator port',
      () => /coordinator listening on 127\.0\.0\.1:(\d+)/.exec(printed)?.[1],
      60_000,
    );
    const r1 = await runCli(
      [
        'launch',
        '--nproc',
        '1',
        '--nnodes',
        '2',
        '--node-rank',
        '1',
        '--coordinator',
        `127.0.0.1:${port}`,
        '--host',
        '127.0.0.1',
        '--out',
        n1,
        ...JOB,
      ],
      { timeoutMs: 120_000, env: TOKEN },
    );
    const r0 = await node0.result;
    assert.equal(r0.code, 0, r0.stderr + r0.stdout);
    assert.equal(r1.code, 0, r1.stderr + r1.stdout);
    assert.match(
      r0.stdout,
      /node 0 of 2, coordinator listening on 127\.0\.0\.1:\d+, starting 1 worker \(rank 0 of 2\)/,
    );
    assert.match(r0.stdout, /training finished in [\d.]+ s: test accuracy \d+\.\d{2}% of the saved model,/);
    assert.match(
      r1.stdout,
      new RegExp(`node 1 of 2, coordinator at 127\\.0\\.0\\.1:${port}, starting 1 worker \\(rank 1 of 2\\)`),
    );
    assert.match(r1.stdout, /this node's workers finished in [\d.]+ s; node 0 holds the model/);
    // Each node keeps its own workers' logs; only node 0 (rank 0) has the run's files.
    assert.deepEqual(fs.readdirSync(path.join(n0, 'logs')).sort(), ['coordinator.log', 'rank 0.log']);
    assert.deepEqual(fs.readdirSync(path.join(n1, 'logs')), ['rank 1.log']);
    assert.equal(fs.existsSync(path.join(n1, 'model')), false);
  } finally {
    node0.child.kill('SIGKILL');
  }
  const single = await runCli(['launch', '--nproc', '2', ...JOB, '--out', one], { timeoutMs: 120_000 });
  assert.equal(single.code, 0, single.stderr);
  // Same ranks, same shards, same ring: the same bytes.
  assert.ok(
    fs
      .readFileSync(path.join(n0, 'model', 'weights.bin'))
      .equals(fs.readFileSync(path.join(one, 'model', 'weights.bin'))),
    'the two-node model differs from the one-machine model',
  );
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a node given half of what a job on several machines needs is told which flag is missing', async () => {
  const cases: { args: string[]; env?: NodeJS.ProcessEnv; error: string }[] = [
    {
      args: ['--nnodes', '2'],
      env: TOKEN,
      error:
        "--nnodes 2 needs --coordinator HOST:PORT, the same on every node (node 0 runs the coordinator there), got ''",
    },
    {
      args: ['--nnodes', '2', '--node-rank', '1', '--coordinator', '127.0.0.1:29400'],
      env: TOKEN,
      error: "--node-rank 1 needs --host ADDR: the address the other nodes reach this machine's workers at",
    },
    {
      args: ['--nnodes', '2', '--node-rank', '1', '--coordinator', '127.0.0.1:0', '--host', '127.0.0.1'],
      env: TOKEN,
      error: "--coordinator 127.0.0.1:0: node 1 needs the port node 0's coordinator listens on (node 0 prints it)",
    },
    {
      args: ['--nnodes', '2', '--node-rank', '2', '--coordinator', '127.0.0.1:29400'],
      env: TOKEN,
      error: "--node-rank must be an integer in 0..1, got '2'",
    },
    {
      args: ['--nnodes', '2', '--coordinator', '127.0.0.1:29400'],
      env: { RINGTRAIN_JOIN_TOKEN: '' },
      error:
        '--nnodes 2: the nodes must share a join token; set RINGTRAIN_JOIN_TOKEN to the same secret on every node (or security.tokenFile in the job file)',
    },
    {
      args: ['--host', '10.0.0.2', '--node-rank', '0'],
      error: '--node-rank, --host are for a job on several machines: add --nnodes M (M > 1), or leave them out',
    },
  ];
  const dir = tempDir('nodeflags');
  for (const c of cases) {
    const r = await runCli(['launch', '--nproc', '1', ...c.args, '--out', path.join(dir, 'run')], {
      timeoutMs: 30_000,
      env: c.env,
    });
    assert.equal(r.code, 2, c.args.join(' '));
    assert.equal(r.stderr, `ringtrain: error: ${c.error}\nRun 'ringtrain help' for usage.\n`);
  }
  assert.equal(fs.existsSync(path.join(dir, 'run')), false, 'nothing is started or made for a refused command line');
  fs.rmSync(dir, { recursive: true, force: true });
});
