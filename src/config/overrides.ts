/**
 * `--set key=value` overrides (and RINGTRAIN_SET, the same items for Kubernetes env). Values are
 * YAML scalars or flow collections, so `32` is a number, `true` a boolean, `[256,128]` a list and
 * `foo` a string, exactly as they would read in the job file. Keys are not checked here: the
 * result is one more layer for validateJobLayers, which checks it with everything else.
 */
import { parse } from 'yaml';
import { RingtrainError } from '../core';
import { isPlainObject } from './schema';

type Tree = Record<string, unknown>;

/**
 * Turn `['data.batchSize=32', 'model.hidden=[256,128]']` into
 * `{ data: { batchSize: 32 }, model: { hidden: [256, 128] } }`. Later items win.
 * `source` names the origin in errors ('--set' or 'RINGTRAIN_SET').
 */
export function parseSetArgs(items: readonly string[], source = '--set'): Record<string, unknown> {
  const root: Tree = {};
  const problems: string[] = [];
  const form = source === '--set' ? '--set key=value' : 'key=value';
  for (const item of items) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? '' : item.slice(0, eq).trim();
    const segments = key.split('.');
    if (eq < 0 || segments.some((s) => s === '')) {
      const why = eq < 0 ? "has no '='" : 'has an empty key';
      problems.push(`${source}: '${item}' ${why}; expected ${form}, e.g. ${example(source)}`);
      continue;
    }
    const parsed = parseValue(item.slice(eq + 1));
    if (typeof parsed === 'string') {
      problems.push(`${source}: '${item}' has a value that is not valid YAML: ${parsed}`);
      continue;
    }
    setPath(root, segments, parsed.value);
  }
  if (problems.length > 0) {
    throw new RingtrainError('CONFIG_INVALID', problems.join('\n'));
  }
  return root;
}

function example(source: string): string {
  if (source === '--set') return '--set data.batchSize=32';
  return `${source}='data.batchSize=32;train.epochs=1'`;
}

/** The parsed value, or the parser's reason as a string. */
function parseValue(text: string): { value: unknown } | string {
  // `--set data.dir=` means "empty", which YAML would read as null.
  if (text.trim() === '') return { value: '' };
  try {
    return { value: parse(text) as unknown };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    return message.split(' at line ')[0];
  }
}

function setPath(root: Tree, segments: string[], value: unknown): void {
  let node = root;
  for (const segment of segments.slice(0, -1)) {
    const next = node[segment];
    // A later `data.batchSize=1` after `data=5` replaces the scalar: later items win.
    if (!Object.hasOwn(node, segment) || !isPlainObject(next)) define(node, segment, {});
    node = node[segment] as Tree;
  }
  define(node, segments[segments.length - 1], value);
}

/** defineProperty so a key like '__proto__' becomes an own (unknown) field, not a prototype. */
function define(node: Tree, key: string, value: unknown): void {
  Object.defineProperty(node, key, { value, enumerable: true, writable: true, configurable: true });
}
