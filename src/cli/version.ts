/** The version `ringtrain --version` prints: the one in ringtrain's own package.json. */
import * as fs from 'node:fs';
import * as path from 'node:path';

export function packageVersion(): string {
  // Compiled code runs from dist/src/cli and sources from src/cli: walk up to the package root.
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ringtrain' && typeof pkg.version === 'string') return pkg.version;
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}
