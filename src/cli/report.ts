/**
 * `ringtrain report RUN_DIR [--out DIR] [--feature-maps LAYER,... | all] [--images N]`: the HTML
 * report and PNG plots of a finished (or stopped) run. Thin: parse, call writeReport, say where the result is.
 */
import { MAX_IMAGES, writeReport } from '../report';
import { intFlag, parseArgs, usage } from './args';

export async function reportCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ['out', 'feature-maps', 'images']);
  if (args.positional.length !== 1) {
    throw usage(
      `report takes exactly one run directory (the --out of a ringtrain launch), got ${args.positional.length === 0 ? 'none' : args.positional.join(' ')}`,
    );
  }
  const layers =
    args.flags
      .get('feature-maps')
      ?.split(',')
      .map((l) => l.trim())
      .filter((l) => l !== '') ?? [];
  if (args.flags.has('feature-maps') && layers.length === 0)
    throw usage('--feature-maps needs layer names, e.g. --feature-maps conv_0,conv_1 (or all)');
  const images = intFlag(args, 'images', 1, MAX_IMAGES) ?? 1;
  const r = await writeReport(args.positional[0] as string, {
    outDir: args.flags.get('out'),
    featureMaps: { layers, images },
  });
  process.stdout.write(`ringtrain: report written to ${r.html} with ${r.pngs.length} plots in ${r.dir}\n`);
  for (const w of r.warnings) process.stdout.write(`ringtrain: warning: ${w.message}\n`);
  return 0;
}
