/**
 * The manifests people apply: `kubectl kustomize` renders every overlay offline, and what it
 * renders is checked the way an API server with strict field validation would check it, plus
 * the wiring between objects that no schema sees (selectors, DNS names, ports, the job file).
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadJob } from '../../src/config/load';
import { validateK8sObject } from './deploy-k8s-schema';
import { OVERLAYS, REPO, dig, isRecord, readRepoFile, renderOverlay, scratchDir, type K8sObject } from './deploy-tools';

type Dict = Record<string, unknown>;

const rendered = new Map<string, K8sObject[]>();
function render(overlay: string): K8sObject[] {
  let objects = rendered.get(overlay);
  if (objects === undefined) {
    objects = renderOverlay(overlay);
    rendered.set(overlay, objects);
  }
  return objects;
}

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && (o.metadata.name === name || o.metadata.name.startsWith(`${name}-`)));
  assert.ok(found, `no ${kind} named ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}

function records(v: unknown): Dict[] {
  return Array.isArray(v) ? v.filter(isRecord) : [];
}

function strings(v: unknown): Record<string, string> {
  return isRecord(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)])) : {};
}

interface PodTemplate {
  owner: string;
  labels: Record<string, string>;
  spec: Dict;
  containers: Dict[];
}

function podTemplates(objects: K8sObject[]): PodTemplate[] {
  return objects
    .filter((o) => o.kind === 'Job')
    .map((o) => {
      const spec = dig(o, 'spec', 'template', 'spec');
      assert.ok(isRecord(spec), `${o.metadata.name} has no pod template`);
      return { owner: o.metadata.name, labels: strings(dig(o, 'spec', 'template', 'metadata', 'labels')), spec, containers: records(spec.containers) };
    });
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function env(container: Dict): Dict[] {
  return records(container.env);
}

function envValue(container: Dict, name: string): string | undefined {
  const v = env(container).find((e) => e.name === name)?.value;
  return typeof v === 'string' ? v : undefined;
}

test('kubectl kustomize renders every overlay into the objects people apply', () => {
  const kinds = (overlay: string): string[] => render(overlay).map((o) => `${o.kind}/${o.metadata.name.replace(/-[a-z0-9]{10}$/, '-<hash>')}`).sort();
  const workload = [
    'ConfigMap/ringtrain-job-<hash>',
    'Job/ringtrain-coordinator',
    'Job/ringtrain-worker',
    'PersistentVolumeClaim/ringtrain-checkpoints',
    'Secret/ringtrain-join-token-<hash>',
    'Service/ringtrain-coordinator',
    'Service/ringtrain-workers',
  ];
  assert.deepEqual(kinds('deploy/k8s/overlays/cpu'), workload);
  assert.deepEqual(kinds('deploy/k8s/overlays/gpu'), workload);
  assert.deepEqual(kinds('deploy/k8s/overlays/monitoring'), ['ConfigMap/ringtrain-grafana-dashboard', 'PodMonitor/ringtrain', 'PrometheusRule/ringtrain']);
});

test('every rendered object passes the Kubernetes schema: types, required fields, no unknown field', () => {
  for (const overlay of OVERLAYS) {
    for (const obj of render(overlay)) assert.deepEqual(validateK8sObject(obj), [], `${overlay}: ${obj.kind}/${obj.metadata.name}`);
  }
});

test('the schema check names a misspelt field, a wrong type and a missing required field', () => {
  const job = structuredClone(find(render('deploy/k8s/overlays/cpu'), 'Job', 'ringtrain-worker'));
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
  assert.deepEqual(validateK8sObject(monitor), ['PodMonitor/ringtrain.spec.podMetricsEndpoints[0].intervall: unknown field']);
});

test('each Service selects exactly the pods it is for, on ports those pods name', () => {
  for (const overlay of ['deploy/k8s/overlays/cpu', 'deploy/k8s/overlays/gpu']) {
    const objects = render(overlay);
    const templates = podTemplates(objects);
    for (const [service, owner] of [['ringtrain-coordinator', 'ringtrain-coordinator'], ['ringtrain-workers', 'ringtrain-worker']] as const) {
      const svc = find(objects, 'Service', service);
      const selector = strings(dig(svc, 'spec', 'selector'));
      const selected = templates.filter((t) => matches(selector, t.labels)).map((t) => t.owner);
      assert.deepEqual(selected, [owner], `${overlay}: Service ${service} selector ${JSON.stringify(selector)}`);
      const podPorts = templates.find((t) => t.owner === owner)?.containers.flatMap((c) => records(c.ports)).map((p) => p.name) ?? [];
      for (const port of records(dig(svc, 'spec', 'ports'))) {
        assert.ok(podPorts.includes(port.targetPort), `${overlay}: Service ${service} targets port ${String(port.targetPort)}, pods name ${podPorts.join(', ')}`);
      }
    }
    const workers = find(objects, 'Service', 'ringtrain-workers');
    assert.equal(dig(workers, 'spec', 'clusterIP'), 'None', 'the worker Service is headless');
    assert.equal(dig(workers, 'spec', 'publishNotReadyAddresses'), true, 'worker DNS names exist before the pods are ready');
    assert.equal(templates.find((t) => t.owner === 'ringtrain-worker')?.spec.subdomain, 'ringtrain-workers', 'the worker pods use the headless Service as subdomain');
    // Jobs get their selector from Kubernetes; a hand-written one would have to match by hand.
    for (const job of objects.filter((o) => o.kind === 'Job')) assert.equal(dig(job, 'spec', 'selector'), undefined);
  }
});

test('the PodMonitor selects the coordinator and every worker of both overlays on their metrics port', () => {
  const monitor = find(render('deploy/k8s/overlays/monitoring'), 'PodMonitor', 'ringtrain');
  const selector = strings(dig(monitor, 'spec', 'selector', 'matchLabels'));
  const port = dig(monitor, 'spec', 'podMetricsEndpoints', 0, 'port');
  for (const overlay of ['deploy/k8s/overlays/cpu', 'deploy/k8s/overlays/gpu']) {
    const templates = podTemplates(render(overlay));
    assert.deepEqual(templates.filter((t) => matches(selector, t.labels)).map((t) => t.owner).sort(), ['ringtrain-coordinator', 'ringtrain-worker']);
    for (const t of templates) {
      const names = t.containers.flatMap((c) => records(c.ports)).map((p) => p.name);
      assert.ok(names.includes(port), `${t.owner} has no port named ${String(port)}`);
      // The label the PodMonitor turns into Prometheus' job, and the one it turns into `role`.
      assert.ok(t.labels[String(dig(monitor, 'spec', 'jobLabel'))], `${t.owner} lacks the job label`);
      assert.ok(t.labels['app.kubernetes.io/component'], `${t.owner} lacks the component label`);
    }
  }
});

test('workers advertise the DNS name the headless Service gives them and find the coordinator by its Service', () => {
  for (const overlay of ['deploy/k8s/overlays/cpu', 'deploy/k8s/overlays/gpu']) {
    const objects = render(overlay);
    const worker = podTemplates(objects).find((t) => t.owner === 'ringtrain-worker');
    assert.ok(worker);
    const c = worker.containers[0] as Dict;
    const vars = env(c);
    // $(NAME) expands only to a variable defined earlier in the same list.
    vars.forEach((e, i) => {
      for (const [, ref] of String(e.value ?? '').matchAll(/\$\(([A-Z_][A-Z0-9_]*)\)/g)) {
        assert.ok(vars.slice(0, i).some((x) => x.name === ref), `${overlay}: ${String(e.name)} uses $(${ref}) before it is defined`);
      }
    });
    // tini stays PID 1; node gets the worker's GC flag, which only the command line can give,
    // and runs the ringtrain the images install at /app/bin (both Dockerfiles: WORKDIR /app, COPY bin).
    assert.deepEqual(c.command, ['/usr/bin/tini', '--', 'node', '--single-threaded-gc', '--max-semi-space-size=32', '/app/bin/ringtrain.js'], `${overlay}: worker command`);
    for (const file of ['deploy/docker/Dockerfile', 'deploy/docker/Dockerfile.gpu']) {
      const text = fs.readFileSync(path.join(REPO, file), 'utf8');
      assert.match(text, /WORKDIR \/app[\s\S]*COPY bin \.\/bin\s*$/m, `${file} puts bin/ under /app`);
    }
    const indexVar = vars.find((e) => dig(e, 'valueFrom', 'fieldRef', 'fieldPath') === "metadata.annotations['batch.kubernetes.io/job-completion-index']");
    assert.ok(indexVar, 'a variable carries the completion index');
    assert.equal(envValue(c, 'RINGTRAIN_ADVERTISE_HOST'), `ringtrain-worker-$(${String(indexVar.name)}).${String(worker.spec.subdomain)}`);
    const coordinatorSvc = find(objects, 'Service', 'ringtrain-coordinator');
    const grpc = records(dig(coordinatorSvc, 'spec', 'ports')).find((p) => p.name === 'grpc');
    assert.equal(envValue(c, 'RINGTRAIN_COORDINATOR'), `ringtrain-coordinator:${String(grpc?.port)}`);
    const coordinator = podTemplates(objects).find((t) => t.owner === 'ringtrain-coordinator')?.containers[0] as Dict;
    const args = coordinator.args as string[];
    assert.equal(args[args.indexOf('--port') + 1], String(records(coordinator.ports).find((p) => p.name === 'grpc')?.containerPort));
    for (const container of [c, coordinator]) {
      const token = env(container).find((e) => e.name === 'RINGTRAIN_JOIN_TOKEN');
      assert.ok(dig(token, 'valueFrom', 'secretKeyRef', 'name'), 'the join token comes from the Secret');
    }
  }
});

test('the job file in the ConfigMap is a valid ringtrain job that agrees with the manifests', () => {
  const scratch = scratchDir('k8s-job');
  try {
    for (const overlay of ['deploy/k8s/overlays/cpu', 'deploy/k8s/overlays/gpu']) {
      const objects = render(overlay);
      const file = path.join(scratch.dir, 'job.yaml');
      fs.writeFileSync(file, String(dig(find(objects, 'ConfigMap', 'ringtrain-job'), 'data', 'job.yaml')));
      const spec = loadJob({ file, env: {} });
      const workers = find(objects, 'Job', 'ringtrain-worker');
      assert.equal(dig(workers, 'spec', 'completionMode'), 'Indexed');
      assert.equal(dig(workers, 'spec', 'completions'), spec.cluster.worldSize, 'completions = cluster.worldSize');
      assert.equal(dig(workers, 'spec', 'parallelism'), spec.cluster.worldSize, 'parallelism = cluster.worldSize');
      assert.equal(spec.observe.metricsHost, '0.0.0.0', 'probes and Prometheus reach the pod from outside');
      for (const t of podTemplates(objects)) {
        const port = records(t.containers[0]?.ports).find((p) => p.name === 'metrics')?.containerPort;
        const expected = t.owner === 'ringtrain-worker' ? spec.observe.workerMetricsPort : spec.observe.metricsPort;
        assert.equal(port, expected, `${t.owner}: container port 'metrics' vs the job file`);
        assert.equal(t.labels['app.kubernetes.io/instance'], spec.name, `${t.owner}: instance label = job name`);
      }
      // Pods start in any order: workers must outwait image pulls and scheduling of the coordinator.
      assert.ok(spec.cluster.connectTimeoutSec >= 120, `connectTimeoutSec ${spec.cluster.connectTimeoutSec}`);
      assert.ok(spec.cluster.joinTimeoutSec >= 120, `joinTimeoutSec ${spec.cluster.joinTimeoutSec}`);
    }
  } finally {
    scratch.remove();
  }
});

test('every pod runs as non-root with a read-only root filesystem, probes /healthz and asks for resources', () => {
  for (const overlay of ['deploy/k8s/overlays/cpu', 'deploy/k8s/overlays/gpu']) {
    const objects = render(overlay);
    for (const t of podTemplates(objects)) {
      const where = `${overlay} ${t.owner}`;
      assert.equal(dig(t.spec, 'securityContext', 'runAsNonRoot'), true, where);
      assert.ok(Number(dig(t.spec, 'securityContext', 'runAsUser')) > 0, where);
      assert.equal(t.spec.restartPolicy, 'OnFailure', `${where}: restarted in place, a process re-joins the ring (cluster.maxRestarts)`);
      assert.equal(t.spec.automountServiceAccountToken, false, where);
      for (const c of t.containers) {
        assert.equal(dig(c, 'securityContext', 'readOnlyRootFilesystem'), true, where);
        assert.equal(dig(c, 'securityContext', 'allowPrivilegeEscalation'), false, where);
        assert.deepEqual(dig(c, 'securityContext', 'capabilities', 'drop'), ['ALL'], where);
        for (const probe of ['readinessProbe', 'livenessProbe']) {
          assert.equal(dig(c, probe, 'httpGet', 'path'), '/healthz', `${where} ${probe}`);
          assert.equal(dig(c, probe, 'httpGet', 'port'), 'metrics', `${where} ${probe}`);
        }
        assert.ok(dig(c, 'resources', 'requests', 'cpu') && dig(c, 'resources', 'requests', 'memory'), `${where}: requests`);
        assert.ok(dig(c, 'resources', 'limits', 'memory'), `${where}: memory limit`);
        const mounts = records(c.volumeMounts).map((m) => m.mountPath);
        assert.ok(mounts.includes('/tmp'), `${where}: a writable /tmp beside the read-only root`);
      }
      // Every volume refers to an object the overlay renders (generated names carry a hash).
      for (const v of records(t.spec.volumes)) {
        const ref = dig(v, 'configMap', 'name') ?? dig(v, 'persistentVolumeClaim', 'claimName');
        if (ref !== undefined) assert.ok(objects.some((o) => o.metadata.name === ref), `${where}: volume ${String(v.name)} refers to missing ${String(ref)}`);
      }
      for (const e of t.containers.flatMap(env)) {
        const secret = dig(e, 'valueFrom', 'secretKeyRef', 'name');
        if (secret !== undefined) assert.ok(objects.some((o) => o.kind === 'Secret' && o.metadata.name === secret), `${where}: Secret ${String(secret)}`);
      }
    }
    const worker = podTemplates(objects).find((t) => t.owner === 'ringtrain-worker');
    assert.ok(records(worker?.spec.volumes).some((v) => dig(v, 'persistentVolumeClaim', 'claimName') === 'ringtrain-checkpoints'), 'workers mount the checkpoint volume');
  }
});

test('the cpu overlay runs the wasm image; the gpu overlay gives each worker a GPU and the CUDA image', () => {
  const version = (JSON.parse(readRepoFile('package.json')) as { version: string }).version;
  const images = (overlay: string): Record<string, string> =>
    Object.fromEntries(podTemplates(render(overlay)).map((t) => [t.owner, String(t.containers[0]?.image)]));
  assert.deepEqual(images('deploy/k8s/overlays/cpu'), { 'ringtrain-coordinator': `ringtrain:${version}`, 'ringtrain-worker': `ringtrain:${version}` });
  assert.deepEqual(images('deploy/k8s/overlays/gpu'), { 'ringtrain-coordinator': `ringtrain:${version}`, 'ringtrain-worker': `ringtrain-gpu:${version}` });

  const cpuWorker = podTemplates(render('deploy/k8s/overlays/cpu')).find((t) => t.owner === 'ringtrain-worker')?.containers[0] as Dict;
  assert.equal(envValue(cpuWorker, 'RINGTRAIN_SET'), 'backend=wasm');
  assert.equal(dig(cpuWorker, 'resources', 'limits', 'cpu'), '1', 'wasm runs one thread: one core per worker');
  // Guaranteed QoS (every container's requests equal its limits, a whole number of CPUs): the
  // kubelet's static CPU manager then gives each worker a core of its own.
  const cpuPod = podTemplates(render('deploy/k8s/overlays/cpu')).find((t) => t.owner === 'ringtrain-worker');
  for (const c of [...(cpuPod?.containers ?? []), ...records(cpuPod?.spec.initContainers)]) {
    for (const r of ['cpu', 'memory']) assert.equal(dig(c, 'resources', 'requests', r), dig(c, 'resources', 'limits', r), `${String(c.name)}: ${r} request must equal its limit`);
    assert.ok(Number.isInteger(Number(dig(c, 'resources', 'limits', 'cpu'))), `${String(c.name)}: a whole number of CPUs`);
  }

  const gpu = podTemplates(render('deploy/k8s/overlays/gpu'));
  const gpuWorker = gpu.find((t) => t.owner === 'ringtrain-worker');
  assert.ok(gpuWorker);
  assert.equal(dig(gpuWorker.containers[0], 'resources', 'limits', 'nvidia.com/gpu'), 1);
  assert.equal(envValue(gpuWorker.containers[0] as Dict, 'RINGTRAIN_SET'), 'backend=tensorflow-gpu');
  assert.ok(records(gpuWorker.spec.tolerations).some((t) => t.key === 'nvidia.com/gpu' && t.effect === 'NoSchedule'));
  const gpuCoordinator = gpu.find((t) => t.owner === 'ringtrain-coordinator');
  assert.equal(dig(gpuCoordinator?.containers[0], 'resources', 'limits', 'nvidia.com/gpu'), undefined, 'the coordinator needs no GPU');
});

test("the README's Run on Kubernetes commands are exactly the overlays rendered here", () => {
  const readme = readRepoFile('README.md');
  const start = readme.indexOf('## Run on Kubernetes');
  assert.ok(start >= 0, 'README has a "## Run on Kubernetes" section');
  const next = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, next < 0 ? undefined : next);
  const dirs = [...section.matchAll(/kubectl (?:apply -k|kustomize|delete -k) (\S+)/g)].map((m) => m[1] as string);
  assert.deepEqual([...new Set(dirs)].sort(), [...OVERLAYS].sort(), 'every overlay, and nothing else, appears in kubectl commands');
  for (const m of section.matchAll(/-f (deploy\/\S+)/g)) assert.ok(fs.existsSync(path.join(REPO, m[1] as string)), `README names ${m[1]}, which does not exist`);
});
