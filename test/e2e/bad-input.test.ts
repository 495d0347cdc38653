import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli, tempDir } from './cli';

/** A stack trace line, which people should never see for bad input. */
const STACK = /^\s+at .+\(.+:\d+:\d+\)$/m;

function holdPort(): Promise<{ port: number; close(): Promise<void> }> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({ port, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

test('a job file with an unknown field and a bad value lists both and exits 2', async () => {
  const dir = tempDir('badjob');
  const file = path.join(dir, 'job.yaml');
  fs.writeFileSync(file, 'data:\n  batchsize: 32\ntrain:\n  lr: -1\n');
  const r = await runCli(['launch', file, '--nproc', '2', '--out', path.join(dir, 'run')], { timeoutMs: 30_000 });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown field 'data\.batchsize' \(did you mean 'data\.batchSize'\?\)/);
  assert.match(r.stderr, /train\.lr must be a number > 0, got -1/);
  assert.doesNotMatch(r.stderr, STACK);
  assert.equal(fs.existsSync(path.join(dir, 'run')), false, 'nothing should start for an invalid job');
});

test('a bad --set value and an unknown option are refused with exit 2', async () => {
  const a = await runCli(['launch', '--nproc', '2', '--set', 'data.batchSize=zero'], { timeoutMs: 30_000 });
  assert.equal(a.code, 2);
  assert.match(a.stderr, /--set: data\.batchSize must be an integer/);
  const b = await runCli(['launch', '--nprocs', '2'], { timeoutMs: 30_000 });
  assert.equal(b.code, 2);
  assert.match(b.stderr, /unknown option --nprocs \(did you mean --nproc\?\); this command takes --nproc/);
  const c = await runCli(['lanch'], { timeoutMs: 30_000 });
  assert.equal(c.code, 2);
  assert.match(c.stderr, /unknown command 'lanch'\. Did you mean 'launch'\? Commands: launch, coordinator/);
});

test('every command prints its own usage for --help, -h and help COMMAND; --version prints the package version', async () => {
  const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as {
    version: string;
  };
  const v = await runCli(['--version'], { timeoutMs: 30_000 });
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout, `ringtrain ${pkg.version}\n`);
  for (const command of ['launch', 'coordinator', 'worker', 'report', 'bench', 'eval', 'predict', 'export', 'serve']) {
    for (const args of [
      [command, '--help'],
      ['help', command],
    ]) {
      const r = await runCli(args, { timeoutMs: 30_000 });
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage:\\n  ringtrain ${command} `), args.join(' '));
      // Only that command's section, and the notes every command shares.
      const others = r.stdout.match(/^  ringtrain (\w+)/gm)?.map((l) => l.trim().split(' ')[1]) ?? [];
      assert.deepEqual([...new Set(others)], [command], args.join(' '));
      assert.match(r.stdout, /Exit codes: 0 training finished/);
    }
  }
  // --help anywhere in the line wins over the other arguments: nothing starts.
  const h = await runCli(['launch', '--nproc', '2', '-h'], { timeoutMs: 30_000 });
  assert.equal(h.code, 0);
  assert.match(h.stdout, /^Usage:\n  ringtrain launch /);
  const u = await runCli(['help', 'trian'], { timeoutMs: 30_000 });
  assert.equal(u.code, 2);
  assert.match(u.stderr, /unknown command 'trian'/);
});

test('a coordinator port already in use is named, with a fix, and exits 1', async () => {
  const held = await holdPort();
  try {
    const r = await runCli(['coordinator', '--host', '127.0.0.1', '--port', String(held.port), '--world-size', '2'], {
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${held.port}.*pick another --port`));
    assert.doesNotMatch(r.stderr, STACK);
    // Our message only: grpc-js's own 'E No address added out of total 1 resolved' line is dropped.
    assert.deepEqual(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('{')).length,
      1,
      r.stderr,
    );
  } finally {
    await held.close();
  }
});

test('a metrics port already in use is named, with the setting to change', async () => {
  const held = await holdPort();
  try {
    const r = await runCli(
      [
        'coordinator',
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--world-size',
        '1',
        '--set',
        `observe.metricsPort=${held.port}`,
      ],
      { timeoutMs: 30_000 },
    );
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`metrics port ${held.port} on 127\\.0\\.0\\.1 is already in use.*observe\\.metricsPort`),
    );
  } finally {
    await held.close();
  }
});

test("under launch, a busy metrics port is named in the launcher's own error line, not only in the coordinator's log", async () => {
  const held = await holdPort();
  try {
    const r = await runCli(
      ['launch', '--nproc', '1', '--set', `observe.metricsPort=${held.port}`, '--out', tempDir('busy-metrics')],
      { timeoutMs: 60_000 },
    );
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `ringtrain: error: coordinator \\(pid \\d+\\) exited with code 1: metrics port ${held.port} on 127\\.0\\.0\\.1 is already in use`,
      ),
    );
  } finally {
    await held.close();
  }
});

test('a worker whose coordinator does not exist retries with backoff, then gives up naming it', async () => {
  const held = await holdPort();
  const port = held.port;
  await held.close(); // Nothing listens there now.
  const r = await runCli(
    [
      'worker',
      '--coordinator',
      `127.0.0.1:${port}`,
      '--set',
      'cluster.connectTimeoutSec=2',
      'data.trainLimit=100',
      'data.testLimit=100',
    ],
    { timeoutMs: 60_000 },
  );
  assert.equal(r.code, 1);
  const retries = r.stderr.split('\n').filter((l) => l.includes('not reachable yet')).length;
  assert.ok(retries >= 2, `expected several retries, saw ${retries}`);
  assert.match(r.stderr, new RegExp(`coordinator at 127\\.0\\.0\\.1:${port} did not answer for 2 s`));
  assert.ok(r.ms < 30_000, `gave up after ${r.ms} ms`);
});

test('a worker without a coordinator address is told how to give one', async () => {
  const r = await runCli(['worker'], { timeoutMs: 30_000, env: { RINGTRAIN_COORDINATOR: '' } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--coordinator or RINGTRAIN_COORDINATOR/);
});

test('CPU binding that cannot be honoured is refused before anything starts, saying why', async () => {
  const dir = tempDir('badcpus');
  const tooMany = await runCli(
    ['launch', '--nproc', String(os.cpus().length + 1), '--cpu-bind', 'cores', '--out', path.join(dir, 'run')],
    { timeoutMs: 30_000 },
  );
  assert.equal(tooMany.code, 2);
  // Without the native addon the refusal names that instead; both are reasons, neither starts a process.
  assert.match(
    tooMany.stderr,
    /workers share \d+ CPUs? \([\d,-]+\): lower --nproc or leave out --cpu-bind|CPU binding needs/,
  );
  assert.equal(fs.existsSync(path.join(dir, 'run')), false);
  const mode = await runCli(['launch', '--nproc', '2', '--cpu-bind', 'sockets'], { timeoutMs: 30_000 });
  assert.equal(mode.code, 2);
  assert.match(mode.stderr, /--cpu-bind takes none or cores, got 'sockets'/);
  const list = await runCli(['worker', '--coordinator', '127.0.0.1:1', '--cpus', '2-x'], { timeoutMs: 30_000 });
  assert.equal(list.code, 2);
  assert.match(list.stderr, /--cpus '2-x': '2-x' is not a CPU number or a range like 2-5; give a list such as 0-3,8/);
  const absent = await runCli(['worker', '--coordinator', '127.0.0.1:1', '--cpus', '4000'], { timeoutMs: 30_000 });
  assert.equal(absent.code, 2);
  assert.match(absent.stderr, /--cpus '4000': CPU 4000 is not available to this process \(it may use [\d,-]+\)/);
  for (const r of [tooMany, mode, list, absent]) assert.doesNotMatch(r.stderr, STACK);
});

test('a run, checkpoint or trace directory that cannot be made is named, with the fix, before anything starts', async () => {
  const dir = tempDir('badout');
  const file = path.join(dir, 'notes.txt');
  fs.writeFileSync(file, 'results of another run');
  const inFile = path.join(file, 'run');
  const cases: { args: string[]; what: string; fix: string }[] = [
    {
      args: ['--out', inFile],
      what: 'the run directory',
      fix: 'pass --out DIR (or set outDir in the job file) naming a directory you can write to',
    },
    {
      args: ['--out', path.join(dir, 'a'), '--set', `checkpoint.dir=${inFile}`],
      what: 'the checkpoint directory',
      fix: "set checkpoint.dir to a directory you can write to (empty: the run directory's checkpoints/)",
    },
    {
      args: ['--out', path.join(dir, 'b'), '--trace', path.join(inFile, 'trace.json')],
      what: "the trace file's directory",
      fix: 'pass --trace FILE in a directory you can write to',
    },
  ];
  for (const c of cases) {
    const r = await runCli(['launch', '--nproc', '2', ...c.args], { timeoutMs: 30_000 });
    assert.equal(r.code, 2, c.what);
    assert.equal(
      r.stderr,
      `ringtrain: error: cannot use ${inFile} as ${c.what}: ${file} is a file, not a directory; ${c.fix}\n`,
    );
  }
  assert.equal(fs.readFileSync(file, 'utf8'), 'results of another run', 'the file in the way is untouched');
  // The run directories of the later cases are made (they are fine); nothing is started in them.
  for (const run of ['a', 'b']) assert.deepEqual(fs.readdirSync(path.join(dir, run)), [], run);
  fs.rmSync(dir, { recursive: true, force: true });
});
