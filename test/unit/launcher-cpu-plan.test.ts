import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { allowedCpus, coreOrder, planCpuSets } from '../../src/launcher';
import { formatCpuList, parseCpuList } from '../../src/native';

test('CPU lists parse as Linux writes them and format back to the shortest form', () => {
  assert.deepEqual(parseCpuList('0-3,8,10-11'), [0, 1, 2, 3, 8, 10, 11]);
  assert.deepEqual(parseCpuList(' 5 '), [5]);
  assert.deepEqual(parseCpuList('3,1,1-2'), [1, 2, 3]);
  assert.equal(formatCpuList([11, 0, 1, 2, 3, 8, 10]), '0-3,8,10-11');
  assert.equal(formatCpuList([4]), '4');
  assert.equal(formatCpuList([1, 3, 5]), '1,3,5');
  assert.throws(() => parseCpuList(''), /empty/);
  assert.throws(() => parseCpuList('1,x'), /'x' is not a CPU number/);
  assert.throws(() => parseCpuList('4-2'), /'4-2' runs backwards/);
  assert.throws(() => parseCpuList('0-5000'), /CPU 5000 is beyond/);
});

test('the allowed CPUs come from Cpus_allowed_list (cgroup cpusets, taskset)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-cpus-'));
  try {
    const status = path.join(dir, 'status');
    fs.writeFileSync(status, 'Name:\tnode\nCpus_allowed:\tf0\nCpus_allowed_list:\t4-7\nMems_allowed_list:\t0\n');
    assert.deepEqual(allowedCpus(status), [4, 5, 6, 7]);
    // Without /proc every CPU of os.cpus() counts.
    assert.equal(allowedCpus(path.join(dir, 'missing')).length, os.cpus().length);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A fake /sys/devices/system/cpu: cpu -> [package, core]. */
function fakeSysfs(topology: Record<number, [number, number]>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-sysfs-'));
  for (const [cpu, [pkg, core]] of Object.entries(topology)) {
    const t = path.join(root, `cpu${cpu}`, 'topology');
    fs.mkdirSync(t, { recursive: true });
    fs.writeFileSync(path.join(t, 'physical_package_id'), `${pkg}\n`);
    fs.writeFileSync(path.join(t, 'core_id'), `${core}\n`);
  }
  return root;
}

test('hyperthreads of one core end up in the same worker share, packages in order', () => {
  // Linux numbers the second hyperthread of each core after all the first ones: 0-3 then 4-7.
  const root = fakeSysfs({ 0: [0, 0], 1: [0, 1], 2: [1, 0], 3: [1, 1], 4: [0, 0], 5: [0, 1], 6: [1, 0], 7: [1, 1] });
  try {
    const ordered = coreOrder([0, 1, 2, 3, 4, 5, 6, 7], root);
    assert.deepEqual(ordered, [0, 4, 1, 5, 2, 6, 3, 7]);
    assert.deepEqual(planCpuSets(4, ordered), [
      [0, 4],
      [1, 5],
      [2, 6],
      [3, 7],
    ]);
    assert.deepEqual(planCpuSets(2, ordered), [
      [0, 4, 1, 5],
      [2, 6, 3, 7],
    ]);
    // An uneven split leaves the rest unbound, for the coordinator and the launcher.
    assert.deepEqual(planCpuSets(3, ordered), [
      [0, 4],
      [1, 5],
      [2, 6],
    ]);
    // A CPU without topology files keeps the given order for all.
    assert.deepEqual(coreOrder([9, 0, 4], root), [9, 0, 4]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('more workers than CPUs is refused, naming both counts and the way out', () => {
  assert.throws(() => planCpuSets(3, [0, 1]), /3 workers share 2 CPUs \(0-1\): lower --nproc or leave out --cpu-bind/);
  assert.deepEqual(planCpuSets(1, [0, 1]), [[0, 1]]);
});
