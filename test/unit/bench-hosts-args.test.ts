import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { parseHostsArgs, oversubscribed } from '../../bench/hosts';
import { GSO_MAX_BYTES, smallPackets, tbfArgs } from '../../bench/sim-hosts';

test('bench hosts defaults to 2 hosts x 1 worker at 10 and 1 Gbit/s, mlp and cnn, grpc and tcp, fp32 and fp16, with torch', () => {
  assert.deepEqual(parseHostsArgs([]), {
    nnodes: 2,
    nproc: 1,
    rates: [10_000, 1_000],
    models: ['mlp', 'cnn'],
    transports: ['grpc', 'tcp'],
    compression: ['none', 'fp16'],
    hierarchy: ['auto'],
    overlap: ['auto'],
    torch: true,
  });
  assert.deepEqual(parseHostsArgs(['--nproc', '2', '--hierarchy', 'auto,flat']).hierarchy, ['auto', 'flat']);
  assert.deepEqual(parseHostsArgs(['--overlap', 'auto,off']).overlap, ['auto', 'off']);
  const o = parseHostsArgs([
    '--nnodes',
    '3',
    '--rates',
    '100',
    '--models',
    'mlp',
    '--transports',
    'tcp',
    '--compression',
    'none',
    '--no-torch',
    '--steps',
    '20',
  ]);
  assert.deepEqual(
    [o.nnodes, o.rates, o.models, o.transports, o.compression, o.torch, o.steps],
    [3, [100], ['mlp'], ['tcp'], ['none'], false, 20],
  );
});

test('bench hosts names every bad flag value at once', () => {
  assert.throws(
    () =>
      parseHostsArgs([
        '--rates',
        '10,-1',
        '--models',
        'vgg',
        '--transports',
        'udp',
        '--nnodes',
        '0',
        '--hierarchy',
        'tree',
      ]),
    {
      message:
        "--rates: -1 is not a rate in Mbit/s; --models: 'vgg' is not mlp, cnn or resnet; --transports: 'udp' is not grpc or tcp; --hierarchy: 'tree' is not auto or flat; --nnodes must be a positive integer, got 0",
    },
  );
  assert.throws(() => parseHostsArgs(['--hosts', '2']), { message: "unknown flag or missing value: '--hosts'" });
  assert.throws(() => parseHostsArgs(['--rates']), { message: "unknown flag or missing value: '--rates'" });
});

test('a link of 1 Gbit/s gets a 64 KiB tbf bucket, 10 Gbit/s 0.2 ms of its rate', () => {
  assert.deepEqual(tbfArgs('eth0', 1000), [
    'qdisc',
    'add',
    'dev',
    'eth0',
    'root',
    'tbf',
    'rate',
    '1000mbit',
    'burst',
    '65536',
    'latency',
    '50ms',
  ]);
  assert.equal(tbfArgs('p0', 10_000)[9], '250000');
});

test('every bucket holds a whole packet of the links (tbf would cut it into MTU packets in software)', () => {
  // A GSO packet's length on the qdisc: payload plus the headers of each MTU segment it stands for.
  const headers = Math.ceil(GSO_MAX_BYTES / 1448) * 66;
  for (const rate of [1, 10, 100, 1000, 2500, 10_000, 100_000]) {
    const burst = Number(tbfArgs('eth0', rate)[9]);
    assert.ok(
      burst >= GSO_MAX_BYTES + headers,
      `${rate} Mbit/s: bucket ${burst} B < packet ${GSO_MAX_BYTES + headers} B`,
    );
  }
});

test('simulated hosts with more workers than the machine has cores poll their host peer 100 us, not 2 ms', () => {
  assert.deepEqual(oversubscribed(parseHostsArgs(['--nproc', '2']), 2), ['cluster.pollMicros=100']);
  assert.deepEqual(oversubscribed(parseHostsArgs(['--nproc', '2']), 8), []);
  assert.deepEqual(oversubscribed(parseHostsArgs(['--nnodes', '3']), 2), [], 'one worker per host has no host peer');
});

test('a link end whose packets cannot be capped leaves one note saying what the links lose, and no error', () => {
  const notes: string[] = [];
  smallPackets('ringtrain-no-such-namespace', 'eth0', notes);
  smallPackets('ringtrain-no-such-namespace', 'eth1', notes);
  assert.equal(notes.length, 1, notes.join('\n'));
  assert.match(
    notes[0] as string,
    /keep their 64 KiB packets \(ip refused gso_max_size: .+\): tbf cuts them in software/,
  );
});
