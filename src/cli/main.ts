/**
 * `ringtrain` entry point: dispatch to a command, turn errors into a message and an exit code.
 * Bad input never shows a stack trace; RINGTRAIN_DEBUG=1 shows one for unexpected errors.
 */
import { isRingtrainError } from '../config/errors';
import { coordinatorCommand, launchCommand, workerCommand } from './commands';
import { benchCommand } from './bench';
import { reportCommand } from './report';
import { evalCommand, exportCommand, predictCommand } from './model-commands';
import { serveCommand } from './serve-command';
import { HELP } from './help';

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
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(HELP);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`ringtrain: unknown command '${name}'; expected one of ${Object.keys(COMMANDS).join(', ')}\n`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (e) {
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
