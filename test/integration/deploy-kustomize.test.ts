/**
 * The manifests people apply: `kubectl kustomize` renders every overlay offline, and what it
 * renders is checked the way an API server with strict field validation would check it, plus
 * the wiring between objects that no schema sees (selectors, DNS names, ports, the job file).
 * Policies (JobSet, NetworkPolicy, disruption budget, TLS) are in deploy-k8s-policies.test.ts.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadJob } from '../../src/config/load';
import type { JobSpec } from '../../src/config';
import { validateK8sObject } from './deploy-k8s-schema';
import {
  type Dict,
  env,
  envValue,
  find,
  matches,
  podOf,
  podTemplates,
  records,
  render,
  strings,
} from './deploy-k8s-objects';
import { OVERLAYS, REPO, WORKLOADS, dig, readRepoFile, scratchDir } from './deploy-tools';

/** The ringtrain job in an overlay's ConfigMap, loaded and validated as ringtrain loads it. */
function jobFileOf(overlay: string): JobSpec {
  const scratch = scratchDir('k8s-job');
  try {
    const file = path.join(scratch.dir, 'job.yaml');
    fs.writeFileSync(file, String(dig(find(render(overlay), 'ConfigMap', 'ringtrain-job'), 'data', 'job.yaml')));
    return loadJob({ file, env: {} });
  } finally {
    scratch.remove();
  }
}

test('kubectl kustomize renders every overlay into the objects people apply', () => {
  const kinds = (overlay: string): string[] =>
    render(overlay)
      .map((o) => `${o.kind}/${o.metadata.name.replace(/-[a-z0-9]{10}$/, '-<hash>')}`)
      .sort();
  const shared = [
    'ConfigMap/ringtrain-job-<hash>',
    'NetworkPolicy/ringtrain-coordinator',
    'NetworkPolicy/ringtrain-workers',
    'PersistentVolumeClaim/ringtrain-checkpoints',
    'PodDisruptionBudget/ringtrain-workers',
    'Secret/ringtrain-join-token-<hash>',
    'Service/ringtrain-coordinator',
  ];
  const jobset = [...shared, 'JobSet/ringtrain'].sort();
  assert.deepEqual(kinds('deploy/k8s/overlays/cpu'), jobset);
  assert.deepEqual(kinds('deploy/k8s/overlays/gpu'), jobset);
  assert.deepEqual(
    kinds('deploy/k8s/overlays/plain-jobs'),
    [...shared, 'Job/ringtrain-coordinator', 'Job/ringtrain-worker', 'Service/ringtrain-workers'].sort(),
  );
  const certs = [
    'Certificate/ringtrain-ca',
    'Certificate/ringtrain-coordinator',
    'Certificate/ringtrain-workers',
    'Issuer/ringtrain-ca',
    'Issuer/ringtrain-self-signed',
  ];
  assert.deepEqual(kinds('deploy/k8s/overlays/tls'), [...jobset, ...certs].sort());
  assert.deepEqual(kinds('deploy/k8s/overlays/monitoring'), [
    'ConfigMap/ringtrain-grafana-dashboard',
    'PodMonitor/ringtrain',
    'PrometheusRule/ringtrain',
  ]);
});

test('every rendered object passes its schema (built-in kinds, and the published JobSet and cert-manager CRDs): types, required fields, no unknown field', () => {
  for (const overlay of OVERLAYS) {
    for (const obj of render(overlay))
      assert.deepEqual(validateK8sObject(obj), [], `${overlay}: ${obj.kind}/${obj.metadata.name}`);
  }
});

test('the schema check names a misspelt field, a wrong type, a missing required field and a value outside an enum', () => {
  const job = structuredClone(find(render('deploy/k8s/overlays/plain-jobs'), 'Job', 'ringtrain-worker'));
  const container = records(dig(job, 'spec', 'template', 'spec', 'containers'))[0] as Dict;
  container.imagePullPolcy = 'Always';
  container.args = [1];
  delete container.name;
  const problems = validateK8sObject(job).join('\n');
  assert.match(problems, /Job\/ringtrain-worker\.spec\.template\.spec\.containers\[0\]\.imagePullPolcy: unknown field/);
  assert.match(problems, /containers\/0\/args\/0 must be string/);
  assert.match(problems, /must have required property name/);
  const monitor = structuredClone(find(render('deploy/k8s/overlays/monitoring'), 'PodMonitor', 'ringtrain'));
  (dig(monitor, 'spec', 'podMetricsEndpoints', 0) as Dict).intervall = '5s';
  assert.deepEqual(validateK8sObject(monitor), [
    'PodMonitor/ringtrain.spec.podMetricsEndpoints[0].intervall: unknown field',
  ]);
  // The JobSet through its published CRD schema: the same kinds of mistake are caught.
  const jobset = structuredClone(find(render('deploy/k8s/overlays/cpu'), 'JobSet', 'ringtrain'));
  (dig(jobset, 'spec', 'successPolicy') as Dict).operater = 'All';
  (dig(jobset, 'spec', 'startupPolicy') as Dict).startupPolicyOrder = 'CoordinatorFirst';
  (dig(jobset, 'spec', 'replicatedJobs', 1) as Dict).replicas = '1';
  delete (dig(jobset, 'spec', 'failurePolicy', 'rules', 0) as Dict).action;
  (dig(jobset, 'spec', 'replicatedJobs', 0, 'template', 'spec', 'template', 'spec') as Dict).restartPolicyy = 'Never';
  assert.deepEqual(validateK8sObject(jobset).sort(), [
    'JobSet/ringtrain.spec.failurePolicy.rules[0].action: required',
    'JobSet/ringtrain.spec.replicatedJobs[0].template.spec.template.spec.restartPolicyy: unknown field',
    'JobSet/ringtrain.spec.replicatedJobs[0].template.spec.template.spec.restartPolicyy: unknown field',
    'JobSet/ringtrain.spec.replicatedJobs[1].replicas: must be an integer, got "1"',
    'JobSet/ringtrain.spec.startupPolicy.startupPolicyOrder: "CoordinatorFirst" is not one of "AnyOrder", "InOrder"',
    'JobSet/ringtrain.spec.successPolicy.operater: unknown field',
  ]);
  const cert = structuredClone(find(render('deploy/k8s/overlays/tls'), 'Certificate', 'ringtrain-workers'));
  (dig(cert, 'spec') as Dict).dnsName = ['x'];
  (dig(cert, 'spec') as Dict).usages = ['server auth', 'mind reading'];
  const certProblems = validateK8sObject(cert).join('\n');
  assert.match(certProblems, /Certificate\/ringtrain-workers\.spec\.dnsName: unknown field/);
  assert.match(certProblems, /Certificate\/ringtrain-workers\.spec\.usages\[1\]: "mind reading" is not one of/);
});

test('each Service selects exactly the pods it is for, on ports those pods name', () => {
  for (const overlay of WORKLOADS) {
    const objects = render(overlay);
    const templates = podTemplates(objects);
    const services: [string, string][] = [['ringtrain-coordinator', 'ringtrain-coordinator']];
    if (overlay.endsWith('plain-jobs')) services.push(['ringtrain-workers', 'ringtrain-worker']);
    for (const [service, owner] of services) {
      const svc = find(objects, 'Service', service);
      const selector = strings(dig(svc, 'spec', 'selector'));
      const selected = templates.filter((t) => matches(selector, t.labels)).map((t) => t.owner);
      assert.deepEqual(selected, [owner], `${overlay}: Service ${service} selector ${JSON.stringify(selector)}`);
      const podPorts =
        templates
          .find((t) => t.owner === owner)
          ?.containers.flatMap((c) => records(c.ports))
          .map((p) => p.name) ?? [];
      for (const port of records(dig(svc, 'spec', 'ports'))) {
        assert.ok(
          podPorts.includes(port.targetPort),
          `${overlay}: Service ${service} targets port ${String(port.targetPort)}, pods name ${podPorts.join(', ')}`,
        );
      }
    }
    // Jobs get their selector from Kubernetes; a hand-written one would have to match by hand.
    for (const t of templates) assert.equal(t.job.selector, undefined);
  }
  const workers = find(render('deploy/k8s/overlays/plain-jobs'), 'Service', 'ringtrain-workers');
  assert.equal(dig(workers, 'spec', 'clusterIP'), 'None', 'the worker Service is headless');
  assert.equal(
    dig(workers, 'spec', 'publishNotReadyAddresses'),
    true,
    'worker DNS names exist before the pods are ready',
  );
  assert.equal(
    podOf(render('deploy/k8s/overlays/plain-jobs'), 'ringtrain-worker').spec.subdomain,
    'ringtrain-workers',
    'the worker pods use the headless Service as subdomain',
  );
  // The JobSet makes its own headless Service, named by its subdomain, for every pod.
  const jobset = find(render('deploy/k8s/overlays/cpu'), 'JobSet', 'ringtrain');
  assert.equal(dig(jobset, 'spec', 'network', 'enableDNSHostnames'), true);
  assert.equal(dig(jobset, 'spec', 'network', 'publishNotReadyAddresses'), true);
});

test('the PodMonitor selects the coordinator and every worker of every workload overlay on their metrics port', () => {
  const monitor = find(render('deploy/k8s/overlays/monitoring'), 'PodMonitor', 'ringtrain');
  const selector = strings(dig(monitor, 'spec', 'selector', 'matchLabels'));
  const port = dig(monitor, 'spec', 'podMetricsEndpoints', 0, 'port');
  for (const overlay of WORKLOADS) {
    const templates = podTemplates(render(overlay));
    assert.deepEqual(
      templates
        .filter((t) => matches(selector, t.labels))
        .map((t) => t.owner)
        .sort(),
      ['ringtrain-coordinator', 'ringtrain-worker'],
      overlay,
    );
    for (const t of templates) {
      const names = t.containers.flatMap((c) => records(c.ports)).map((p) => p.name);
      assert.ok(names.includes(port), `${overlay} ${t.owner} has no port named ${String(port)}`);
      // The label the PodMonitor turns into Prometheus' job, and the one it turns into `role`.
      assert.ok(t.labels[String(dig(monitor, 'spec', 'jobLabel'))], `${t.owner} lacks the job label`);
      assert.ok(t.labels['app.kubernetes.io/component'], `${t.owner} lacks the component label`);
    }
  }
});

test('workers advertise the DNS name their pod gets and find the coordinator by its Service', () => {
  for (const overlay of WORKLOADS) {
    const objects = render(overlay);
    const worker = podOf(objects, 'ringtrain-worker');
    const c = worker.containers[0] as Dict;
    const vars = env(c);
    // $(NAME) expands only to a variable defined earlier in the same list.
    vars.forEach((e, i) => {
      for (const [, ref] of String(e.value ?? '').matchAll(/\$\(([A-Z_][A-Z0-9_]*)\)/g)) {
        assert.ok(
          vars.slice(0, i).some((x) => x.name === ref),
          `${overlay}: ${String(e.name)} uses $(${ref}) before it is defined`,
        );
      }
    });
    // tini stays PID 1; node gets the worker's GC flag, which only the command line can give,
    // and runs the ringtrain the images install at /app/bin (both Dockerfiles: WORKDIR /app, COPY bin).
    assert.deepEqual(
      c.command,
      ['/usr/bin/tini', '--', 'node', '--single-threaded-gc', '--max-semi-space-size=32', '/app/bin/ringtrain.js'],
      `${overlay}: worker command`,
    );
    for (const file of ['deploy/docker/Dockerfile', 'deploy/docker/Dockerfile.gpu']) {
      const text = fs.readFileSync(path.join(REPO, file), 'utf8');
      assert.match(text, /WORKDIR \/app[\s\S]*COPY bin \.\/bin\s*$/m, `${file} puts bin/ under /app`);
    }
    const indexVar = vars.find(
      (e) =>
        dig(e, 'valueFrom', 'fieldRef', 'fieldPath') ===
        "metadata.annotations['batch.kubernetes.io/job-completion-index']",
    );
    assert.ok(indexVar, 'a variable carries the completion index');
    const advertise = envValue(c, 'RINGTRAIN_ADVERTISE_HOST') ?? '';
    for (const i of [0, 1, 7])
      assert.equal(
        advertise.replace(`$(${String(indexVar.name)})`, String(i)),
        worker.dnsName(i),
        `${overlay}: pod ${i}'s DNS name`,
      );
    const coordinatorSvc = find(objects, 'Service', 'ringtrain-coordinator');
    const grpc = records(dig(coordinatorSvc, 'spec', 'ports')).find((p) => p.name === 'grpc');
    assert.equal(envValue(c, 'RINGTRAIN_COORDINATOR'), `ringtrain-coordinator:${String(grpc?.port)}`);
    const coordinator = podOf(objects, 'ringtrain-coordinator').containers[0] as Dict;
    const args = coordinator.args as string[];
    assert.equal(
      args[args.indexOf('--port') + 1],
      String(records(coordinator.ports).find((p) => p.name === 'grpc')?.containerPort),
    );
    for (const container of [c, coordinator]) {
      const token = env(container).find((e) => e.name === 'RINGTRAIN_JOIN_TOKEN');
      assert.ok(dig(token, 'valueFrom', 'secretKeyRef', 'name'), 'the join token comes from the Secret');
    }
  }
});

test('the job file in the ConfigMap is a valid ringtrain job that agrees with the manifests', () => {
  for (const overlay of WORKLOADS) {
    const objects = render(overlay);
    const spec = jobFileOf(overlay);
    const workers = podOf(objects, 'ringtrain-worker');
    assert.equal(workers.job.completionMode, 'Indexed');
    assert.equal(workers.job.completions, spec.cluster.worldSize, 'completions = cluster.worldSize');
    assert.equal(workers.job.parallelism, spec.cluster.worldSize, 'parallelism = cluster.worldSize');
    assert.equal(workers.job.backoffLimit, spec.cluster.maxRestarts, 'backoffLimit = cluster.maxRestarts');
    assert.equal(spec.observe.metricsHost, '0.0.0.0', 'probes and Prometheus reach the pod from outside');
    for (const t of podTemplates(objects)) {
      const port = records(t.containers[0]?.ports).find((p) => p.name === 'metrics')?.containerPort;
      const expected = t.owner === 'ringtrain-worker' ? spec.observe.workerMetricsPort : spec.observe.metricsPort;
      assert.equal(port, expected, `${t.owner}: container port 'metrics' vs the job file`);
      assert.equal(t.labels['app.kubernetes.io/instance'], spec.name, `${t.owner}: instance label = job name`);
      assert.equal(
        t.job.activeDeadlineSeconds,
        spec.cluster.activeDeadlineSec,
        `${overlay} ${t.owner}: activeDeadlineSeconds = cluster.activeDeadlineSec`,
      );
    }
    // The ring listens on the declared port the NetworkPolicy opens.
    assert.ok(spec.cluster.ringPort > 0, 'a fixed ring port');
    assert.equal(
      records(workers.containers[0]?.ports).find((p) => p.name === 'ring')?.containerPort,
      spec.cluster.ringPort,
      'container port ring = cluster.ringPort',
    );
    // Pods start in any order: workers must outwait image pulls and scheduling of the coordinator.
    assert.ok(spec.cluster.connectTimeoutSec >= 120, `connectTimeoutSec ${spec.cluster.connectTimeoutSec}`);
    assert.ok(spec.cluster.joinTimeoutSec >= 120, `joinTimeoutSec ${spec.cluster.joinTimeoutSec}`);
  }
});

test("the coordinator's state file is on the checkpoint volume, which the workers write to as well", () => {
  for (const overlay of WORKLOADS) {
    const objects = render(overlay);
    const coordinator = podOf(objects, 'ringtrain-coordinator');
    const args = coordinator.containers[0]?.args as string[];
    const stateFile = args[args.indexOf('--state-file') + 1] ?? '';
    const claimOf = (t: typeof coordinator, file: string): string | undefined => {
      const mount = records(t.containers[0]?.volumeMounts).find((m) => file.startsWith(`${String(m.mountPath)}/`));
      const volume = records(t.spec.volumes).find((v) => v.name === mount?.name);
      return dig(volume, 'persistentVolumeClaim', 'claimName') as string | undefined;
    };
    assert.equal(
      claimOf(coordinator, stateFile),
      'ringtrain-checkpoints',
      `${overlay}: --state-file ${stateFile} is not on the checkpoint volume`,
    );
    const worker = podOf(objects, 'ringtrain-worker');
    const wargs = worker.containers[0]?.args as string[];
    assert.equal(
      claimOf(worker, wargs[wargs.indexOf('--out') + 1] ?? ''),
      'ringtrain-checkpoints',
      `${overlay}: the workers' --out`,
    );
    assert.equal(
      path.dirname(stateFile),
      wargs[wargs.indexOf('--out') + 1],
      'the state file sits in the run directory',
    );
  }
});

test('every pod runs as non-root with a read-only root filesystem, probes /healthz and asks for resources', () => {
  for (const overlay of WORKLOADS) {
    const objects = render(overlay);
    for (const t of podTemplates(objects)) {
      const where = `${overlay} ${t.owner}`;
      assert.equal(dig(t.spec, 'securityContext', 'runAsNonRoot'), true, where);
      assert.ok(Number(dig(t.spec, 'securityContext', 'runAsUser')) > 0, where);
      assert.equal(t.spec.automountServiceAccountToken, false, where);
      for (const c of t.containers) {
        assert.equal(dig(c, 'securityContext', 'readOnlyRootFilesystem'), true, where);
        assert.equal(dig(c, 'securityContext', 'allowPrivilegeEscalation'), false, where);
        assert.deepEqual(dig(c, 'securityContext', 'capabilities', 'drop'), ['ALL'], where);
        for (const probe of ['readinessProbe', 'livenessProbe']) {
          assert.equal(dig(c, probe, 'httpGet', 'path'), '/healthz', `${where} ${probe}`);
          assert.equal(dig(c, probe, 'httpGet', 'port'), 'metrics', `${where} ${probe}`);
        }
        assert.ok(
          dig(c, 'resources', 'requests', 'cpu') && dig(c, 'resources', 'requests', 'memory'),
          `${where}: requests`,
        );
        assert.ok(dig(c, 'resources', 'limits', 'memory'), `${where}: memory limit`);
        const mounts = records(c.volumeMounts).map((m) => m.mountPath);
        assert.ok(mounts.includes('/tmp'), `${where}: a writable /tmp beside the read-only root`);
      }
      // Every volume refers to an object the overlay renders (generated names carry a hash),
      // or to a Secret cert-manager writes from a Certificate it renders.
      for (const v of records(t.spec.volumes)) {
        const ref = dig(v, 'configMap', 'name') ?? dig(v, 'persistentVolumeClaim', 'claimName');
        if (ref !== undefined)
          assert.ok(
            objects.some((o) => o.metadata.name === ref),
            `${where}: volume ${String(v.name)} refers to missing ${String(ref)}`,
          );
        const secret = dig(v, 'secret', 'secretName');
        if (secret !== undefined)
          assert.ok(
            objects.some((o) => o.kind === 'Certificate' && dig(o, 'spec', 'secretName') === secret),
            `${where}: no Certificate writes Secret ${String(secret)}`,
          );
      }
      for (const e of t.containers.flatMap(env)) {
        const secret = dig(e, 'valueFrom', 'secretKeyRef', 'name');
        if (secret !== undefined)
          assert.ok(
            objects.some((o) => o.kind === 'Secret' && o.metadata.name === secret),
            `${where}: Secret ${String(secret)}`,
          );
      }
    }
    assert.ok(
      records(podOf(objects, 'ringtrain-worker').spec.volumes).some(
        (v) => dig(v, 'persistentVolumeClaim', 'claimName') === 'ringtrain-checkpoints',
      ),
      'workers mount the checkpoint volume',
    );
  }
});

test('the cpu overlay runs the wasm image; the gpu overlay gives each worker a GPU and the CUDA image', () => {
  const version = (JSON.parse(readRepoFile('package.json')) as { version: string }).version;
  const images = (overlay: string): Record<string, string> =>
    Object.fromEntries(podTemplates(render(overlay)).map((t) => [t.owner, String(t.containers[0]?.image)]));
  for (const overlay of ['deploy/k8s/overlays/cpu', 'deploy/k8s/overlays/plain-jobs', 'deploy/k8s/overlays/tls']) {
    assert.deepEqual(
      images(overlay),
      { 'ringtrain-coordinator': `ringtrain:${version}`, 'ringtrain-worker': `ringtrain:${version}` },
      overlay,
    );
    const cpuPod = podOf(render(overlay), 'ringtrain-worker');
    assert.equal(envValue(cpuPod.containers[0] as Dict, 'RINGTRAIN_SET'), 'backend=wasm', overlay);
    assert.equal(
      dig(cpuPod.containers[0], 'resources', 'limits', 'cpu'),
      '1',
      'wasm runs one thread: one core per worker',
    );
    // Guaranteed QoS (every container's requests equal its limits, a whole number of CPUs): the
    // kubelet's static CPU manager then gives each worker a core of its own.
    for (const c of [...cpuPod.containers, ...records(cpuPod.spec.initContainers)]) {
      for (const r of ['cpu', 'memory'])
        assert.equal(
          dig(c, 'resources', 'requests', r),
          dig(c, 'resources', 'limits', r),
          `${String(c.name)}: ${r} request must equal its limit`,
        );
      assert.ok(
        Number.isInteger(Number(dig(c, 'resources', 'limits', 'cpu'))),
        `${String(c.name)}: a whole number of CPUs`,
      );
    }
  }
  assert.deepEqual(images('deploy/k8s/overlays/gpu'), {
    'ringtrain-coordinator': `ringtrain:${version}`,
    'ringtrain-worker': `ringtrain-gpu:${version}`,
  });
  const gpu = podTemplates(render('deploy/k8s/overlays/gpu'));
  const gpuWorker = gpu.find((t) => t.owner === 'ringtrain-worker');
  assert.ok(gpuWorker);
  assert.equal(dig(gpuWorker.containers[0], 'resources', 'limits', 'nvidia.com/gpu'), 1);
  assert.equal(envValue(gpuWorker.containers[0] as Dict, 'RINGTRAIN_SET'), 'backend=tensorflow-gpu');
  assert.ok(records(gpuWorker.spec.tolerations).some((t) => t.key === 'nvidia.com/gpu' && t.effect === 'NoSchedule'));
  const gpuCoordinator = gpu.find((t) => t.owner === 'ringtrain-coordinator');
  assert.equal(
    dig(gpuCoordinator?.containers[0], 'resources', 'limits', 'nvidia.com/gpu'),
    undefined,
    'the coordinator needs no GPU',
  );
});

test('the plain Jobs run the very pods the cpu JobSet runs, but for the name each worker advertises', () => {
  const jobset = render('deploy/k8s/overlays/cpu');
  const plain = render('deploy/k8s/overlays/plain-jobs');
  for (const owner of ['ringtrain-coordinator', 'ringtrain-worker'] as const) {
    const copy = (t: ReturnType<typeof podOf>) =>
      structuredClone({ spec: t.spec, labels: t.labels, job: t.job, containers: t.containers });
    const a = copy(podOf(jobset, owner));
    const b = copy(podOf(plain, owner));
    for (const t of [a, b]) {
      delete t.spec.subdomain;
      for (const c of records(t.spec.containers)) c.env = env(c).filter((e) => e.name !== 'RINGTRAIN_ADVERTISE_HOST');
      delete t.job.ttlSecondsAfterFinished;
    }
    assert.deepEqual(b.spec, a.spec, `${owner}: pod spec`);
    assert.deepEqual(b.labels, a.labels, `${owner}: pod labels`);
    const { template: _ta, ...jobA } = a.job;
    const { template: _tb, ...jobB } = b.job;
    assert.deepEqual(jobB, jobA, `${owner}: Job spec`);
  }
  // The JobSet's ttl is the plain Jobs' too.
  assert.equal(
    podOf(plain, 'ringtrain-worker').job.ttlSecondsAfterFinished,
    dig(find(jobset, 'JobSet', 'ringtrain'), 'spec', 'ttlSecondsAfterFinished'),
  );
});

test('docs/kubernetes.md names every overlay in its kubectl commands, and the README links it', () => {
  const doc = readRepoFile('docs/kubernetes.md');
  const dirs = [...doc.matchAll(/kubectl (?:apply -k|kustomize|delete -k) (\S+)/g)].map((m) => m[1] as string);
  assert.deepEqual(
    [...new Set(dirs)].sort(),
    [...OVERLAYS].sort(),
    'every overlay, and nothing else, appears in kubectl commands',
  );
  for (const m of doc.matchAll(/-f (deploy\/\S+)/g))
    assert.ok(fs.existsSync(path.join(REPO, m[1] as string)), `docs/kubernetes.md names ${m[1]}, which does not exist`);
  assert.match(readRepoFile('README.md'), /\(docs\/kubernetes\.md\)/);
});
