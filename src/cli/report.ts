/**
 * `ringtrain report RUN_DIR [--out DIR]`: the HTML report and PNG plots of a finished (or
 * stopped) run. Thin: parse, call writeReport, say where the result is.
 */
import { writeReport } from '../report';
import { parseArgs, usage } from './args';

export async function reportCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ['out']);
  if (args.positional.length !== 1) {
    throw usage(`report takes exactly one run directory (the --out of a ringtrain launch), got ${args.positional.length === 0 ? 'none' : args.positional.join(' ')}`);
  }
  const r = await writeReport(args.positional[0] as string, { outDir: args.flags.get('out') });
  process.stdout.write(`ringtrain: report written to ${r.html} with ${r.pngs.length} plots in ${r.dir}\n`);
  for (const w of r.warnings) process.stdout.write(`ringtrain: warning: ${w.message}\n`);
  return 0;
}
