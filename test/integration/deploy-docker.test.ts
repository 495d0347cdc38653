/**
 * The Dockerfiles, read rather than built (no Docker engine in CI): every stage starts from a base
 * pinned by digest (Node 24 LTS), the final stage carries OCI labels, runs as a non-root user with
 * production dependencies only and starts `ringtrain`, and everything they COPY from the build
 * context exists and is not excluded by .dockerignore.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { REPO, readRepoFile } from './deploy-tools';

interface Instruction {
  op: string;
  args: string;
}

/** Instructions in order, continuation lines joined and comments dropped. */
function parseDockerfile(text: string): Instruction[] {
  const joined = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => {
      const m = /^(\S+)\s+(.*)$/.exec(l);
      assert.ok(m, `cannot parse Dockerfile line: ${l}`);
      return { op: (m[1] as string).toUpperCase(), args: (m[2] as string).replace(/\s+/g, ' ') };
    });
}

/** The instructions of each stage, split at FROM. */
function stages(instructions: Instruction[]): Instruction[][] {
  const out: Instruction[][] = [];
  for (const i of instructions) {
    if (i.op === 'FROM') out.push([i]);
    else if (out.length > 0) out[out.length - 1]?.push(i);
  }
  return out;
}

function dockerignore(): string[] {
  return readRepoFile('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** The ARG defaults declared before the first FROM (what `${NAME}` in a FROM line means). */
function globalArgs(all: Instruction[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const i of all) {
    if (i.op === 'FROM') break;
    const m = /^(\w+)=(\S+)$/.exec(i.args);
    if (i.op === 'ARG' && m) out.set(m[1] as string, m[2] as string);
  }
  return out;
}

/** Each stage's base image with ARGs substituted; a stage built on an earlier stage names it. */
function bases(all: Instruction[]): string[] {
  const args = globalArgs(all);
  return stages(all).map((st) =>
    (st[0]?.args.split(' ')[0] ?? '').replace(/\$\{(\w+)\}/g, (_, n: string) => args.get(n) ?? `<unset ${n}>`),
  );
}

const PACKAGE = JSON.parse(readRepoFile('package.json')) as {
  version: string;
  license: string;
  engines: { node: string };
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};

/** Checks shared by both images; returns the final stage. */
function checkImage(file: string): Instruction[] {
  const all = parseDockerfile(readRepoFile(file));
  const stageNames = stages(all)
    .map((st) => / AS (\S+)$/i.exec(st[0]?.args ?? '')?.[1])
    .filter((n): n is string => n !== undefined);
  for (const base of bases(all)) {
    if (stageNames.includes(base)) continue;
    assert.match(base, /^[a-z0-9./_-]+:[\w.-]+@sha256:[0-9a-f]{64}$/, `${file}: FROM ${base} is not pinned by digest`);
  }
  const last = stages(all).at(-1);
  assert.ok(last, `${file} has no FROM`);
  const user = last.filter((i) => i.op === 'USER').at(-1)?.args;
  assert.ok(user !== undefined, `${file}: the final stage sets no USER`);
  assert.match(
    user,
    /^[1-9]\d*(:[1-9]\d*)?$/,
    `${file}: USER ${user} must be a numeric non-root uid, so runAsNonRoot can verify it`,
  );
  // tini runs ringtrain as its child so SIGTERM from Kubernetes reaches it; the role comes from CMD/args.
  assert.deepEqual(
    JSON.parse(last.find((i) => i.op === 'ENTRYPOINT')?.args ?? 'null'),
    ['/usr/bin/tini', '--', 'ringtrain'],
    `${file}: ENTRYPOINT`,
  );
  assert.ok(
    last.some((i) => i.op === 'RUN' && /apt-get install .*\btini\b/.test(i.args)),
    `${file}: tini is not installed in the final stage`,
  );
  const runs = all.filter((i) => i.op === 'RUN').map((i) => i.args);
  assert.ok(
    runs.some((r) => /npm ci (.* )?--omit=dev/.test(r)),
    `${file}: no 'npm ci --omit=dev' in ${runs.join(' | ')}`,
  );
  assert.ok(
    runs.some((r) => /\bln -s \/app\/bin\/ringtrain\.js \/usr\/local\/bin\/ringtrain\b/.test(r)),
    `${file}: ringtrain is not on the PATH`,
  );
  // OCI labels: what the image is, its version (the package's), its licence and its base.
  const labels = new Map(
    [
      ...last
        .filter((i) => i.op === 'LABEL')
        .map((i) => i.args)
        .join(' ')
        .matchAll(/(org\.opencontainers\.image\.[\w.]+)="([^"]*)"/g),
    ].map((m) => [m[1] as string, m[2] as string]),
  );
  assert.equal(labels.get('org.opencontainers.image.licenses'), PACKAGE.license, `${file}: licenses label`);
  assert.equal(labels.get('org.opencontainers.image.version'), '${VERSION}', `${file}: version label`);
  assert.ok(
    last.some((i) => i.op === 'ARG' && i.args === `VERSION=${PACKAGE.version}`),
    `${file}: VERSION defaults to package.json's ${PACKAGE.version}`,
  );
  assert.ok(labels.get('org.opencontainers.image.title')?.startsWith('ringtrain'), `${file}: title label`);
  assert.match(
    labels.get('org.opencontainers.image.base.name') ?? '',
    /^\$\{(NODE|CUDA)_IMAGE\}$/,
    `${file}: base.name label`,
  );
  // The final stage never brings devDependencies: node_modules comes from a production install.
  assert.ok(
    !last.some((i) => i.op === 'COPY' && /--from=build \S*node_modules/.test(i.args)),
    `${file}: copies the build stage's node_modules`,
  );
  const ignored = dockerignore();
  for (const copy of all.filter((i) => i.op === 'COPY' && !i.args.includes('--from='))) {
    const sources = copy.args.split(' ').slice(0, -1);
    for (const src of sources) {
      assert.ok(fs.existsSync(path.join(REPO, src)), `${file}: COPY ${src}, which does not exist`);
      assert.ok(!ignored.includes(src), `${file}: COPY ${src}, which .dockerignore excludes`);
    }
  }
  return last;
}

/** The Node major the images run, from the pinned node base. */
function imageNodeMajor(file: string): number {
  const node = bases(parseDockerfile(readRepoFile(file))).find((b) => b.startsWith('node:'));
  const major = Number(/^node:(\d+)-/.exec(node ?? '')?.[1]);
  assert.ok(major === 22 || major === 24, `${file}: Node ${major} is not a supported LTS (22 or 24)`);
  return major;
}

test('the CPU image runs ringtrain on a Node LTS pinned by digest as a non-root user, with production dependencies and no native TensorFlow', () => {
  const last = checkImage('deploy/docker/Dockerfile');
  assert.equal(last[0]?.args, '${NODE_IMAGE}', 'final stage on the pinned Node image');
  const major = imageNodeMajor('deploy/docker/Dockerfile');
  // engines names the versions tests run on: this machine's Node and the images'.
  for (const m of [Number(process.versions.node.split('.')[0]), major])
    assert.match(PACKAGE.engines.node, new RegExp(`\\^${m}\\.`), `engines ${PACKAGE.engines.node} lacks Node ${m}`);
  const text = readRepoFile('deploy/docker/Dockerfile');
  assert.match(text, /npm ci --omit=dev --ignore-scripts/);
  assert.doesNotMatch(text, /tfjs-node/, 'the native packages stay out: the wasm backend');
});

test('the native TensorFlow packages are optional peer dependencies, so npm ci installs exactly what the tests run', () => {
  for (const pkg of ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu']) {
    assert.ok(PACKAGE.peerDependencies[pkg], `${pkg} is a peer dependency`);
    assert.equal(PACKAGE.peerDependenciesMeta[pkg]?.optional, true, `${pkg} is optional`);
    const lock = JSON.parse(readRepoFile('package-lock.json')) as { packages: Record<string, unknown> };
    assert.equal(lock.packages[`node_modules/${pkg}`], undefined, `package-lock.json installs ${pkg}`);
  }
  assert.equal((JSON.parse(readRepoFile('package.json')) as Record<string, unknown>).optionalDependencies, undefined);
});

test('the GPU image builds on CUDA with @tensorflow/tfjs-node-gpu installed, and runs ringtrain as a non-root user', () => {
  const text = readRepoFile('deploy/docker/Dockerfile.gpu');
  checkImage('deploy/docker/Dockerfile.gpu');
  assert.match(
    text,
    /^ARG CUDA_IMAGE=nvidia\/cuda:11\.\d+\.\d+-cudnn8-runtime-/m,
    'a CUDA 11 + cuDNN 8 runtime, what libtensorflow 2.9 links against',
  );
  assert.match(text, /npm rebuild @tensorflow\/tfjs-node-gpu/, 'the GPU binding downloads libtensorflow at build time');
  // The optional peer, installed explicitly at a version the peer range allows.
  const version = /^ARG TFJS_NODE_GPU_VERSION=(\d+)\.(\d+)\.(\d+)$/m.exec(text);
  assert.ok(version, 'TFJS_NODE_GPU_VERSION pins the GPU binding');
  const range = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(PACKAGE.peerDependencies['@tensorflow/tfjs-node-gpu'] ?? '');
  assert.ok(
    range && version[1] === range[1] && Number(version[2]) >= Number(range[2]),
    `${version[0]} outside ${range?.[0]}`,
  );
  assert.match(
    text,
    /npm install --no-save --omit=dev --ignore-scripts @tensorflow\/tfjs-node-gpu@\$\{TFJS_NODE_GPU_VERSION\}/,
  );
  assert.match(text, /COPY --from=node \/usr\/local\/bin\/node/, 'Node comes from the official Node image');
  assert.match(text, /^FROM \$\{NODE_IMAGE\} AS node$/m);
  assert.equal(
    imageNodeMajor('deploy/docker/Dockerfile.gpu'),
    imageNodeMajor('deploy/docker/Dockerfile'),
    'both images run the same Node',
  );
});

test('.dockerignore keeps the build context to what the images copy', () => {
  const ignored = dockerignore();
  for (const heavy of ['node_modules', 'dist', '.git', 'runs'])
    assert.ok(ignored.includes(heavy), `.dockerignore lacks ${heavy}`);
  for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'proto', 'bin'])
    assert.ok(!ignored.includes(needed), `.dockerignore excludes ${needed}`);
});

test('the code the images run requires only packages a production install without optional ones has', () => {
  // package-lock.json marks packages only devDependencies need as dev: `npm ci --omit=dev`
  // installs exactly the rest (optional ones are skipped only where they cannot install).
  const lock = JSON.parse(readRepoFile('package-lock.json')) as {
    packages: Record<string, { dev?: boolean; optional?: boolean }>;
  };
  const installed = (name: string): boolean => {
    const entry = lock.packages[`node_modules/${name}`];
    return entry !== undefined && entry.dev !== true && entry.optional !== true;
  };
  const builtins = new Set(builtinModules);
  const missing: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.js')) {
        for (const m of fs.readFileSync(file, 'utf8').matchAll(/\brequire\(["']([^"'.][^"']*)["']\)/g)) {
          const spec = m[1] as string;
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string);
          if (!builtins.has(name.replace(/^node:/, '')) && !installed(name))
            missing.push(`${path.relative(REPO, file)}: ${spec}`);
        }
      }
    }
  };
  const compiled = path.join(REPO, 'dist', 'src');
  assert.ok(fs.existsSync(compiled), 'build first: npx tsc -p tsconfig.json');
  walk(compiled);
  assert.ok(
    installed('@grpc/grpc-js') && !installed('typescript') && !installed('@tensorflow/tfjs-node'),
    'lockfile flags as expected',
  );
  // The native packages are loaded by name at run time (compute/backend.ts), never require()d statically.
  assert.deepEqual(missing, [], 'modules the CPU image would not have');
});
