/**
 * `ringtrain` entry point: dispatch to a command, turn errors into a message and an exit code.
 * Bad input never shows a stack trace; RINGTRAIN_DEBUG=1 shows one for unexpected errors.
 */
import { isRingtrainError } from '../core';
import { coordinatorCommand, launchCommand, workerCommand } from './commands';
import { benchCommand } from './bench';
import { reportCommand } from './report';
import { evalCommand, exportCommand, predictCommand } from './model-commands';
import { serveCommand } from './serve-command';
import { COMMAND_NAMES, HELP, commandHelp } from './help';
import { closestName } from '../config';
import { packageVersion } from './version';

const COMMANDS: Record<string, (argv: readonly string[]) => Promise<number>> = {
  launch: launchCommand,
  coordinator: coordinatorCommand,
  worker: workerCommand,
  bench: benchCommand,
  report: reportCommand,
  eval: evalCommand,
  predict: predictCommand,
  serve: serveCommand,
  export: exportCommand,
};

export async function run(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || (name === 'help' && rest.length === 0)) {
    process.stdout.write(HELP);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`ringtrain ${packageVersion()}\n`);
    return 0;
  }
  // `help launch` and `launch --help` print that command's usage; `bench allreduce --help`
  // is left to the bench, whose usage lists its own flags.
  const helpFor = name === 'help' ? rest[0] : wantsHelp(name, rest) ? name : undefined;
  if (helpFor !== undefined) {
    const text = commandHelp(helpFor);
    if (text === undefined) return unknownCommand(helpFor);
    process.stdout.write(text);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) return unknownCommand(name);
  try {
    return await command(rest);
  } catch (e) {
    // A launched child's plain stderr line is not one of its JSON records: tell the launcher too.
    process.send?.({ kind: 'failed', message: (e as Error).message });
    if (isRingtrainError(e)) {
      process.stderr.write(`ringtrain: error: ${e.message}\n`);
      return e.code === 'CONFIG_INVALID' ? 2 : 1;
    }
    const err = e as Error;
    process.stderr.write(`ringtrain: unexpected error: ${err.message}\n`);
    if (process.env.RINGTRAIN_DEBUG) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

function wantsHelp(name: string, rest: readonly string[]): boolean {
  if (name === 'bench') return rest[0] === '--help' || rest[0] === '-h';
  return rest.includes('--help') || rest.includes('-h');
}

function unknownCommand(name: string): number {
  const guess = closestName(name, COMMAND_NAMES);
  const hint = guess === undefined ? '' : ` Did you mean '${guess}'?`;
  process.stderr.write(
    `ringtrain: unknown command '${name}'.${hint} Commands: ${COMMAND_NAMES.join(', ')}. Run 'ringtrain help' for usage.\n`,
  );
  return 2;
}

/** Runs a command and exits with its code; a launched child also exits when its launcher goes. */
export function main(argv: readonly string[]): void {
  if (process.send !== undefined) process.on('disconnect', () => process.exit(1));
  run(argv).then(
    (code) => {
      process.exitCode = code;
      // Open handles (a gRPC channel's backoff timer, the wasm runtime) must not keep a finished process alive.
      setTimeout(() => process.exit(code), 200).unref();
    },
    (e: unknown) => {
      process.stderr.write(`ringtrain: unexpected error: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
