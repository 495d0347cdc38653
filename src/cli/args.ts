/**
 * A small argv parser: `command [positional] --flag value --bool --set k=v k=v ...`. Each command
 * declares its flags, so a misspelt flag is an error that lists the valid ones instead of being
 * silently ignored.
 */
import { RingtrainError } from '../core';
import { closestName } from '../config';

export interface ParsedArgs {
  positional: string[];
  flags: Map<string, string>;
  sets: string[];
}

export function parseArgs(
  argv: readonly string[],
  valueFlags: readonly string[],
  boolFlags: readonly string[] = [],
): ParsedArgs {
  const out: ParsedArgs = { positional: [], flags: new Map(), sets: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--set') {
      // `--set a=1 b=2` takes every following key=value, as the issue's examples write it.
      let taken = 0;
      while (
        i + 1 < argv.length &&
        !(argv[i + 1] as string).startsWith('--') &&
        (argv[i + 1] as string).includes('=')
      ) {
        out.sets.push(argv[++i] as string);
        taken++;
      }
      if (taken === 0) throw usage(`--set needs at least one key=value, e.g. --set train.epochs=1`);
      continue;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      if (boolFlags.includes(name)) {
        out.flags.set(name, 'true');
        continue;
      }
      if (!valueFlags.includes(name)) {
        const names = [...valueFlags, ...boolFlags, 'set'];
        const guess = closestName(name, names);
        const hint = guess === undefined ? '' : ` (did you mean --${guess}?)`;
        throw usage(`unknown option --${name}${hint}; this command takes ${names.map((f) => `--${f}`).join(', ')}`);
      }
      const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      // `--out --nproc 2` is a missing value, not an output directory named --nproc.
      if (value === undefined || value === '' || (eq < 0 && value.startsWith('--')))
        throw usage(`--${name} needs a value`);
      out.flags.set(name, value);
      continue;
    }
    out.positional.push(arg);
  }
  return out;
}

export function usage(message: string): RingtrainError {
  return new RingtrainError('CONFIG_INVALID', `${message}\nRun 'ringtrain help' for usage.`);
}

export function intFlag(args: ParsedArgs, name: string, min: number, max: number): number | undefined {
  const raw = args.flags.get(name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw usage(`--${name} must be an integer in ${min}..${max}, got '${raw}'`);
  return n;
}
