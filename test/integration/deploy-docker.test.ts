/**
 * The Dockerfiles, read rather than built (no Docker engine in CI): their final stage runs Node 20
 * as a non-root user with production dependencies only and starts `ringtrain`, and everything they
 * COPY from the build context exists and is not excluded by .dockerignore.
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

/** Checks shared by both images; returns the final stage. */
function checkImage(file: string): Instruction[] {
  const all = parseDockerfile(readRepoFile(file));
  const last = stages(all).at(-1);
  assert.ok(last, `${file} has no FROM`);
  const user = last.filter((i) => i.op === 'USER').at(-1)?.args;
  assert.ok(user !== undefined, `${file}: the final stage sets no USER`);
  assert.match(user, /^[1-9]\d*(:[1-9]\d*)?$/, `${file}: USER ${user} must be a numeric non-root uid, so runAsNonRoot can verify it`);
  // tini runs ringtrain as its child so SIGTERM from Kubernetes reaches it; the role comes from CMD/args.
  assert.deepEqual(JSON.parse(last.find((i) => i.op === 'ENTRYPOINT')?.args ?? 'null'), ['/usr/bin/tini', '--', 'ringtrain'], `${file}: ENTRYPOINT`);
  assert.ok(last.some((i) => i.op === 'RUN' && /apt-get install .*\btini\b/.test(i.args)), `${file}: tini is not installed in the final stage`);
  const runs = all.filter((i) => i.op === 'RUN').map((i) => i.args);
  assert.ok(runs.some((r) => /npm ci (.* )?--omit=dev/.test(r)), `${file}: no 'npm ci --omit=dev' in ${runs.join(' | ')}`);
  assert.ok(runs.some((r) => /\bln -s \/app\/bin\/ringtrain\.js \/usr\/local\/bin\/ringtrain\b/.test(r)), `${file}: ringtrain is not on the PATH`);
  // The final stage never brings devDependencies: node_modules comes from a production install.
  assert.ok(!last.some((i) => i.op === 'COPY' && /--from=build \S*node_modules/.test(i.args)), `${file}: copies the build stage's node_modules`);
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

test('the CPU image runs ringtrain on Node 20 as a non-root user, with production dependencies and no native TensorFlow', () => {
  const last = checkImage('deploy/docker/Dockerfile');
  assert.match(last[0]?.args ?? '', /^node:20[-.]/, 'final stage on the Node 20 image');
  const text = readRepoFile('deploy/docker/Dockerfile');
  assert.match(text, /npm ci --omit=dev --omit=optional/, 'the optional native packages stay out: the wasm backend');
});

test('the GPU image builds on CUDA with @tensorflow/tfjs-node-gpu installed, and runs ringtrain as a non-root user', () => {
  const text = readRepoFile('deploy/docker/Dockerfile.gpu');
  checkImage('deploy/docker/Dockerfile.gpu');
  assert.match(text, /^ARG CUDA_IMAGE=nvidia\/cuda:11\.\d+\.\d+-cudnn8-runtime-/m, 'a CUDA 11 + cuDNN 8 runtime, what libtensorflow 2.9 links against');
  assert.match(text, /npm rebuild @tensorflow\/tfjs-node-gpu/, 'the GPU binding downloads libtensorflow at build time');
  assert.match(text, /COPY --from=node \/usr\/local\/bin\/node/, 'Node comes from the official Node 20 image');
  assert.match(text, /^FROM node:20-bookworm-slim AS node$/m);
});

test('.dockerignore keeps the build context to what the images copy', () => {
  const ignored = dockerignore();
  for (const heavy of ['node_modules', 'dist', '.git', 'runs']) assert.ok(ignored.includes(heavy), `.dockerignore lacks ${heavy}`);
  for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'proto', 'bin']) assert.ok(!ignored.includes(needed), `.dockerignore excludes ${needed}`);
});

test('the code the images run requires only packages a production install without optional ones has', () => {
  // package-lock.json marks packages only devDependencies need as dev, those only optional ones
  // need as optional: `npm ci --omit=dev --omit=optional` installs exactly the rest.
  const lock = JSON.parse(readRepoFile('package-lock.json')) as { packages: Record<string, { dev?: boolean; optional?: boolean }> };
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
          if (!builtins.has(name.replace(/^node:/, '')) && !installed(name)) missing.push(`${path.relative(REPO, file)}: ${spec}`);
        }
      }
    }
  };
  const compiled = path.join(REPO, 'dist', 'src');
  assert.ok(fs.existsSync(compiled), 'build first: npx tsc -p tsconfig.json');
  walk(compiled);
  assert.ok(installed('@grpc/grpc-js') && !installed('typescript') && !installed('@tensorflow/tfjs-node'), 'lockfile flags as expected');
  assert.deepEqual(missing, [], 'modules the CPU image would not have');
});
