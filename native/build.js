#!/usr/bin/env node
// Builds the native matrix product (gemm.cc) at `npm ci` / `npm install`, with the node-gyp that
// npm ships. It is optional: without a C++ toolchain (g++, make, python3) the build fails, this
// says so in one line, and training runs on the pure-wasm kernels (about half the speed on
// convolutions). RINGTRAIN_NATIVE_KERNELS=off skips the build.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

if (process.env.RINGTRAIN_NATIVE_KERNELS === 'off') {
  console.log('ringtrain: native kernels not built (RINGTRAIN_NATIVE_KERNELS=off)');
  process.exit(0);
}
// npm sets npm_config_node_gyp for install scripts; run by hand, use the node-gyp next to npm.
const bundled = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const gyp = process.env.npm_config_node_gyp || bundled;
if (!fs.existsSync(gyp)) {
  console.warn(`ringtrain: native kernels not built: node-gyp not found (looked at ${gyp}); training uses the wasm kernels`);
  process.exit(0);
}
// Node's own headers when they sit next to this node (a distribution's package), so node-gyp
// need not download them; npm passes its configured nodedir itself.
const prefix = path.join(path.dirname(process.execPath), '..');
const headers = !process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${path.resolve(prefix)}`] : [];
const run = spawnSync(process.execPath, [gyp, 'rebuild', '--loglevel=error', ...headers], { cwd: __dirname, encoding: 'utf8' });
const addon = path.join(__dirname, 'build', 'Release', 'ringtrain_native.node');
if (run.status === 0 && fs.existsSync(addon)) {
  console.log(`ringtrain: native kernels built (${path.relative(process.cwd(), addon)})`);
} else {
  // node-gyp's own context (stack, versions, npm's package variables) buries the cause: drop it.
  const boilerplate = /^gyp ERR! (stack|System|command|cwd|node -v|node-gyp -v|not ok|\$npm_)/;
  const lines = `${run.stderr || ''}${run.error ? run.error.message : ''}`.trim().split('\n').filter((l) => !boilerplate.test(l));
  const detail = lines.slice(-6).join('\n  ');
  console.warn(
    'ringtrain: native kernels not built; training uses the wasm kernels (about half the speed on convolutions).\n' +
      '  To build them: install g++, make and python3, then run `npm rebuild ringtrain` (or `node native/build.js`).\n' +
      `  node-gyp said:\n  ${detail}`,
  );
}
