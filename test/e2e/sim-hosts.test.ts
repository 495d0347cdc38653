import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hostsUp, listNamespaces, netnsRefusal } from '../../bench/sim-hosts';
import { launchAcross, oneWorkerIn, steadySamplesPerSec } from '../../bench/hosts-run';
import { stepSeconds } from '../../bench/scaling-model';
import { DEFAULT_CALIBRATION, firstHosts, readCalibration } from '../../bench/scaling-model-cli';
import { runCli, startCli, tempDir, waitFor } from './cli';

const JOB = ['train.epochs=1', 'data.trainLimit=960', 'data.testLimit=100'];
const refusal = netnsRefusal();
if (refusal !== undefined) process.stdout.write(`# skipping the simulated-host tests: ${refusal}\n`);

const ours = (prefix: string): string[] => listNamespaces().filter((n) => n.startsWith(prefix));

test(
  'a 3-host ring over network namespaces trains the same weights as --nproc 3 on one host',
  { skip: refusal },
  async () => {
    const dir = tempDir('hosts3');
    const h = hostsUp(3, 1000);
    try {
      assert.equal(ours(h.prefix).length, 4, 'three hosts and the switch');
      const run = await launchAcross(h, 1, JOB, dir, 180_000);
      assert.match(
        run.outputs[0] as string,
        /node 0 of 3, coordinator listening on 10\.213\.0\.1:\d+, starting 1 worker \(rank 0 of 3\)/,
      );
      assert.match(
        run.outputs[2] as string,
        /node 2 of 3, coordinator at 10\.213\.0\.1:\d+, starting 1 worker \(rank 2 of 3\)/,
      );
      // The ring's members are the three hosts' addresses: the gradients crossed the links.
      const joined =
        fs
          .readFileSync(path.join(run.outDir, 'logs', 'rank 0.log'), 'utf8')
          .split('\n')
          .find((l) => l.includes('"event":"joined"')) ?? '';
      for (const host of ['10.213.0.1', '10.213.0.2', '10.213.0.3'])
        assert.ok(joined.includes(`${host}:`), `rank 0 joined a ring without ${host}: ${joined}`);
      const one = await runCli(['launch', '--nproc', '3', '--out', path.join(dir, 'one'), '--set', ...JOB], {
        timeoutMs: 180_000,
      });
      assert.equal(one.code, 0, one.stderr + one.stdout);
      const a = fs.readFileSync(path.join(run.outDir, 'model', 'weights.bin'));
      const b = fs.readFileSync(path.join(dir, 'one', 'model', 'weights.bin'));
      assert.ok(a.length > 400_000 && a.equals(b), 'the 3-host model differs from the --nproc 3 model');
    } finally {
      h.down();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(ours(h.prefix), [], 'no namespace is left behind');
  },
);

/** Every rank's log lines of `event` across the nodes of a launchAcross run under `base`. */
function events(base: string, event: string): { file: string; line: Record<string, unknown> }[] {
  const out: { file: string; line: Record<string, unknown> }[] = [];
  for (const node of fs.readdirSync(base).filter((d) => d.startsWith('node'))) {
    const logs = path.join(base, node, 'logs');
    for (const f of fs.readdirSync(logs).filter((n) => n.startsWith('rank '))) {
      for (const l of fs.readFileSync(path.join(logs, f), 'utf8').split('\n')) {
        if (l.includes(`"event":"${event}"`))
          out.push({ file: `${node}/${f}`, line: JSON.parse(l) as Record<string, unknown> });
      }
    }
  }
  return out;
}

test(
  "2 hosts x 2 workers: the hierarchical all-reduce trains the flat ring's weights to float rounding, every replica bit-identical",
  { skip: refusal },
  async () => {
    const dir = tempDir('hier');
    const h = hostsUp(2, 1000);
    try {
      const job = [...JOB, 'data.trainLimit=3840', 'cluster.transport=grpc'];
      const flat = await launchAcross(h, 2, [...job, 'cluster.hierarchy=flat'], path.join(dir, 'flat'), 240_000);
      const tree = await launchAcross(h, 2, job, path.join(dir, 'tree'), 240_000);
      const paths = events(path.join(dir, 'tree'), 'allreduce-path').map((e) => String(e.line.msg));
      assert.equal(paths.length, 4, paths.join('\n'));
      for (const p of paths)
        assert.equal(p, 'all-reduces sum through a shared file on each host, then between one rank per host (2 hosts)');
      assert.deepEqual(events(path.join(dir, 'flat'), 'allreduce-path'), [], 'the flat ring takes no hierarchy');
      for (const run of ['flat', 'tree']) {
        const digests = events(path.join(dir, run), 'finished').map((e) => e.line.weightsSha256);
        assert.equal(digests.length, 4, `${run}: four replicas finished`);
        assert.equal(new Set(digests).size, 1, `${run}: replicas differ: ${digests.join(' ')}`);
      }
      const read = (d: string): Float32Array => {
        const b = fs.readFileSync(path.join(d, 'model', 'weights.bin'));
        return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
      };
      const a = read(flat.outDir);
      const b = read(tree.outDir);
      assert.equal(a.length, b.length);
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
      // 15 SGD steps from the same start, sums in another order: rounding-sized differences, not training-sized.
      assert.ok(worst < 1e-5, `largest weight difference ${worst}`);
      process.stdout.write(`hierarchical vs flat: largest weight difference ${worst.toExponential(2)}\n`);
    } finally {
      h.down();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(ours(h.prefix), [], 'no namespace is left behind');
  },
);

test(
  'ringtrain bench hosts, interrupted mid-run, removes its namespaces and stops its jobs',
  { skip: refusal },
  async () => {
    const cli = startCli(
      ['bench', 'hosts', '--rates', '100', '--models', 'mlp', '--transports', 'grpc', '--no-torch'],
      { timeoutMs: 120_000 },
    );
    let printed = '';
    cli.child.stdout?.on('data', (d: Buffer) => (printed += d.toString()));
    const prefix = await waitFor(
      'the bench to report its namespaces',
      () => /namespaces (rthosts-\d+-)/.exec(printed)?.[1],
      60_000,
    );
    await waitFor('a job in the simulated hosts', () => (ours(prefix).length === 3 ? true : undefined), 30_000);
    cli.child.kill('SIGINT');
    const r = await cli.result;
    assert.equal(r.code, 130, r.stderr + r.stdout);
    assert.deepEqual(ours(prefix), [], 'the interrupted bench left namespaces behind');
  },
);

test(
  'the scaling model predicts 2- and 3-host MLP steps over 10 Mbit/s links within 20%',
  { skip: refusal },
  async () => {
    // A slow link, so the prediction rests on the link and the ring's 2(n-1)/n rather than on this
    // shared machine's CPU, whose scheduling delays move a fast step by more than 20%.
    const c = readCalibration(DEFAULT_CALIBRATION);
    const mlp = c.models.find((m) => m.name === 'mlp');
    assert.ok(mlp !== undefined, 'the calibration has the mlp');
    const dir = tempDir('model');
    const h = hostsUp(3, 10);
    try {
      const alone = await oneWorkerIn(
        h,
        ['model.kind=mlp', 'data.trainLimit=3200', 'train.epochs=3', 'data.testLimit=100'],
        path.join(dir, 'one'),
        120_000,
      );
      const stepSec = 64 / steadySamplesPerSec(alone, 1);
      for (const nodes of [2, 3]) {
        const run = await launchAcross(
          firstHosts(h, nodes),
          1,
          ['model.kind=mlp', `data.trainLimit=${12 * 64 * nodes}`, 'train.epochs=3', 'data.testLimit=100'],
          path.join(dir, `n${nodes}`),
          180_000,
        );
        const measured = (64 * nodes) / steadySamplesPerSec(run.outDir, 1);
        const predicted = stepSeconds(
          { ...mlp, stepSec },
          { nodes, linkBitsPerSec: 10e6, bucketBytes: 25 * 1024 * 1024, overlap: false },
          c.link,
        );
        const off = Math.abs(predicted - measured) / measured;
        process.stdout.write(
          `${nodes} hosts at 10 Mbit/s: measured ${(measured * 1000).toFixed(1)} ms/step, predicted ${(predicted * 1000).toFixed(1)} (${(100 * off).toFixed(0)}% off)\n`,
        );
        assert.ok(
          off <= 0.2,
          `${nodes} hosts: predicted ${(predicted * 1000).toFixed(1)} ms per step, measured ${(measured * 1000).toFixed(1)}`,
        );
      }
    } finally {
      h.down();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(ours(h.prefix), []);
  },
);
