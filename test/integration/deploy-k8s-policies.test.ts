/**
 * What the rendered manifests promise an operator beyond their schema: one JobSet that starts the
 * coordinator first, succeeds with the workers and fails at once on a bad job file; Jobs that
 * never retry exit code 2 and expire; NetworkPolicies that open exactly the ports the pods serve
 * to exactly the peers that need them; a disruption budget that keeps the ring whole; and TLS
 * certificates whose names are the ones each side dials.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import {
  type Dict,
  envValue,
  find,
  matches,
  podOf,
  podTemplates,
  records,
  render,
  strings,
  type PodTemplate,
} from './deploy-k8s-objects';
import { WORKLOADS, dig, type K8sObject } from './deploy-tools';

const JOBSET_OVERLAYS = ['deploy/k8s/overlays/cpu', 'deploy/k8s/overlays/gpu', 'deploy/k8s/overlays/tls'] as const;

test('one JobSet per job: coordinator first, complete when the workers are, failed at once by a bad job file or the deadline', () => {
  for (const overlay of JOBSET_OVERLAYS) {
    const jobset = find(render(overlay), 'JobSet', 'ringtrain');
    const names = records(dig(jobset, 'spec', 'replicatedJobs')).map((r) => r.name);
    // InOrder starts the replicated jobs in list order, each once the previous one's pods are ready.
    assert.deepEqual(names, ['coordinator', 'workers'], overlay);
    assert.equal(dig(jobset, 'spec', 'startupPolicy', 'startupPolicyOrder'), 'InOrder');
    for (const rj of records(dig(jobset, 'spec', 'replicatedJobs')))
      assert.equal(rj.replicas, 1, `${String(rj.name)}: one Job`);
    assert.deepEqual(dig(jobset, 'spec', 'successPolicy'), { operator: 'All', targetReplicatedJobs: ['workers'] });
    const rules = records(dig(jobset, 'spec', 'failurePolicy', 'rules'));
    const failNow = rules.find((r) => r.action === 'FailJobSet');
    assert.ok(failNow, 'a rule fails the JobSet without restarting it');
    assert.deepEqual(failNow.onJobFailureReasons, ['PodFailurePolicy', 'DeadlineExceeded']);
    assert.equal(rules.indexOf(failNow), 0, 'the FailJobSet rule is the first that matches');
    assert.ok(Number(dig(jobset, 'spec', 'failurePolicy', 'maxRestarts')) >= 1, 'other failures recreate the set');
    assert.ok(Number(dig(jobset, 'spec', 'ttlSecondsAfterFinished')) > 0, 'finished JobSets expire');
  }
});

/** The podFailurePolicy rule that matches a container exiting with `code`, or undefined. */
function ruleForExit(t: PodTemplate, code: number): Dict | undefined {
  return records(dig(t.job, 'podFailurePolicy', 'rules')).find((r) => {
    const on = r.onExitCodes;
    return (
      on !== undefined &&
      dig(on, 'operator') === 'In' &&
      (dig(on, 'values') as number[]).includes(code) &&
      t.containers.some((c) => c.name === dig(on, 'containerName'))
    );
  });
}

test('every Job fails at once on exit code 2 (a bad job file), ignores evictions, and expires after it ends', () => {
  for (const overlay of WORKLOADS) {
    for (const t of podTemplates(render(overlay))) {
      const where = `${overlay} ${t.owner}`;
      assert.equal(ruleForExit(t, 2)?.action, 'FailJob', `${where}: exit code 2 fails the Job`);
      assert.equal(ruleForExit(t, 137), undefined, `${where}: a killed process (137) is retried`);
      const rules = records(dig(t.job, 'podFailurePolicy', 'rules'));
      assert.deepEqual(
        rules[0],
        { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
        `${where}: an eviction does not count against backoffLimit`,
      );
      // The API server refuses a podFailurePolicy with any other restartPolicy.
      assert.equal(t.spec.restartPolicy, 'Never', `${where}: podFailurePolicy needs restartPolicy Never`);
      assert.ok(Number(t.job.backoffLimit) > 0, `${where}: a crashed pod is replaced`);
      assert.ok(Number(t.job.activeDeadlineSeconds) > 0, `${where}: activeDeadlineSeconds`);
      if (overlay.endsWith('plain-jobs'))
        assert.ok(Number(t.job.ttlSecondsAfterFinished) > 0, `${where}: ttlSecondsAfterFinished`);
    }
    // A coordinator that exits 1 has failed the job; a new one would start it afresh.
    assert.equal(ruleForExit(podOf(render(overlay), 'ringtrain-coordinator'), 1)?.action, 'FailJob', overlay);
  }
});

/** Ports of the pods a NetworkPolicy selects, by name. */
function namedPorts(t: PodTemplate): Map<string, number> {
  return new Map(t.containers.flatMap((c) => records(c.ports)).map((p) => [String(p.name), Number(p.containerPort)]));
}

test("the NetworkPolicies let only the job's workers reach the coordinator and the ring, and only the monitoring namespace reach /metrics", () => {
  for (const overlay of WORKLOADS) {
    const objects = render(overlay);
    const templates = podTemplates(objects);
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
    const policyOf = (t: PodTemplate): K8sObject => {
      const mine = policies.filter((p) => matches(strings(dig(p, 'spec', 'podSelector', 'matchLabels')), t.labels));
      assert.equal(mine.length, 1, `${overlay}: ${t.owner} is selected by ${mine.length} NetworkPolicies`);
      return mine[0] as K8sObject;
    };
    const expected: Record<string, { port: string; from: string }[]> = {
      'ringtrain-coordinator': [
        { port: 'grpc', from: 'workers' },
        { port: 'metrics', from: 'monitoring' },
      ],
      'ringtrain-worker': [
        { port: 'ring', from: 'workers' },
        { port: 'metrics', from: 'monitoring' },
      ],
    };
    for (const t of templates) {
      const policy = policyOf(t);
      assert.deepEqual(dig(policy, 'spec', 'policyTypes'), ['Ingress']);
      const rules = records(dig(policy, 'spec', 'ingress')).map((rule) => {
        const ports = records(rule.ports).map((p) => String(p.port));
        assert.equal(ports.length, 1, 'one port per rule');
        const peers = records(rule.from);
        assert.equal(peers.length, 1, 'one peer per rule');
        const peer = peers[0] as Dict;
        const ns = strings(dig(peer, 'namespaceSelector', 'matchLabels'));
        if (Object.keys(ns).length > 0) {
          assert.deepEqual(ns, { 'kubernetes.io/metadata.name': 'monitoring' });
          assert.equal(peer.podSelector, undefined);
          return { port: ports[0] as string, from: 'monitoring' };
        }
        // Within the namespace: exactly this job's worker pods.
        const selector = strings(dig(peer, 'podSelector', 'matchLabels'));
        assert.deepEqual(
          templates.filter((x) => matches(selector, x.labels)).map((x) => x.owner),
          ['ringtrain-worker'],
          `${overlay}: peers of ${t.owner}`,
        );
        assert.equal(selector['app.kubernetes.io/instance'], t.labels['app.kubernetes.io/instance'], 'only this job');
        return { port: ports[0] as string, from: 'workers' };
      });
      assert.deepEqual(rules, expected[t.owner], `${overlay}: ${t.owner}`);
      for (const r of rules)
        assert.ok(namedPorts(t).has(r.port), `${overlay}: ${t.owner} serves no port named ${r.port}`);
    }
  }
});

test('the disruption budget keeps every worker of the ring: minAvailable = cluster.worldSize, selecting exactly the workers', () => {
  for (const overlay of WORKLOADS) {
    const objects = render(overlay);
    const pdb = find(objects, 'PodDisruptionBudget', 'ringtrain-workers');
    const selector = strings(dig(pdb, 'spec', 'selector', 'matchLabels'));
    assert.deepEqual(
      podTemplates(objects)
        .filter((t) => matches(selector, t.labels))
        .map((t) => t.owner),
      ['ringtrain-worker'],
      overlay,
    );
    // Jobs are not a scalable controller: only an integer minAvailable is allowed.
    assert.equal(dig(pdb, 'spec', 'maxUnavailable'), undefined);
    assert.equal(
      dig(pdb, 'spec', 'minAvailable'),
      podOf(objects, 'ringtrain-worker').job.completions,
      "minAvailable = the workers' completions = cluster.worldSize",
    );
  }
});

test('the TLS overlay mounts the Secrets cert-manager writes and turns on mTLS, with certificates named as each side is dialled', () => {
  const objects = render('deploy/k8s/overlays/tls');
  const certs = objects.filter((o) => o.kind === 'Certificate');
  const issuers = new Map(objects.filter((o) => o.kind === 'Issuer').map((o) => [o.metadata.name, o]));
  for (const cert of certs)
    assert.ok(
      issuers.has(String(dig(cert, 'spec', 'issuerRef', 'name'))),
      `${cert.metadata.name}: its Issuer is rendered`,
    );
  // The chain: a self-signed issuer makes the CA, whose Secret the CA issuer signs with.
  const caIssuer = issuers.get('ringtrain-ca');
  const ca = certs.find((c) => dig(c, 'spec', 'isCA') === true);
  assert.equal(dig(caIssuer, 'spec', 'ca', 'secretName'), dig(ca, 'spec', 'secretName'));
  const secretCert = (secret: unknown): K8sObject => {
    const c = certs.find((x) => dig(x, 'spec', 'secretName') === secret);
    assert.ok(c, `no Certificate writes ${String(secret)}`);
    return c;
  };
  const worker = podOf(objects, 'ringtrain-worker');
  const workers = worker.job.completions as number;
  for (const t of podTemplates(objects)) {
    const c = t.containers[0] as Dict;
    const mount = records(c.volumeMounts).find((m) => m.mountPath === '/etc/ringtrain/tls');
    assert.ok(mount, `${t.owner}: certificates mounted`);
    const secret = dig(
      records(t.spec.volumes).find((v) => v.name === mount.name),
      'secret',
      'secretName',
    );
    const cert = secretCert(secret);
    assert.deepEqual(
      dig(cert, 'spec', 'usages'),
      ['server auth', 'client auth'],
      `${cert.metadata.name}: serves and authenticates as a client`,
    );
    assert.equal(dig(cert, 'spec', 'issuerRef', 'name'), 'ringtrain-ca');
    const args = (c.args as string[]).join(' ');
    // cert-manager's kubernetes.io/tls Secret holds tls.crt, tls.key and ca.crt.
    assert.match(
      args,
      /--set security\.certFile=\/etc\/ringtrain\/tls\/tls\.crt security\.keyFile=\/etc\/ringtrain\/tls\/tls\.key security\.caFile=\/etc\/ringtrain\/tls\/ca\.crt security\.mutualTls=true$/,
      `${t.owner}: ${args}`,
    );
    const names = dig(cert, 'spec', 'dnsNames') as string[];
    if (t.owner === 'ringtrain-coordinator') {
      const dialled = (envValue(worker.containers[0] as Dict, 'RINGTRAIN_COORDINATOR') ?? '').split(':')[0];
      assert.deepEqual(names, [dialled], 'the coordinator certificate names the host workers dial');
    } else {
      // Every rank's advertised name, and nothing else.
      assert.deepEqual(
        names,
        Array.from({ length: workers }, (_, i) => worker.dnsName(i)),
        'one name per rank (cluster.worldSize)',
      );
    }
  }
});
