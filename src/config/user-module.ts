/**
 * Loads a user's own code (a model or dataset module named in the job file): CommonJS `.js` /
 * `.cjs`, or TypeScript `.ts` / `.cts`. Node 20 cannot load TypeScript, and the typescript
 * package here (7.x, native) has no transpile API, so `.ts` modules go through sucrase's
 * require hook: types are stripped and ES `import`/`export` become CommonJS, with no type check
 * (run tsc for that). Relative imports inside the module resolve as usual.
 */
import * as path from 'node:path';
import { RingtrainError } from '../core';

const TYPESCRIPT = /\.(ts|cts|mts)$/;
let hooked = false;

/**
 * `what` names the module in errors ("model module"); `hint` says what the module should export.
 * Throws CONFIG_INVALID naming the file and the fix.
 */
export function requireUserModule(file: string, what: string): Record<string, unknown> {
  const ext = path.extname(file);
  if (TYPESCRIPT.test(file) && !hooked) {
    // Registers for .ts only; only a job that names a .ts module pays for it.
    require('sucrase/register/ts');
    hooked = true;
  }
  try {
    return require(file) as Record<string, unknown>;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const hint =
      err.code === 'MODULE_NOT_FOUND' && (err.message.includes(`'${file}'`) || err.message.includes(`"${file}"`))
        ? ' (check the path: relative paths are resolved against the working directory)'
        : err.code === 'ERR_REQUIRE_ESM' || ext === '.mjs'
          ? ': ES modules (.mjs, "type": "module") cannot be loaded here; use CommonJS .js or a .ts module'
          : '';
    throw new RingtrainError('CONFIG_INVALID', `cannot load ${what} ${file}: ${err.message.split('\n')[0]}${hint}`);
  }
}
