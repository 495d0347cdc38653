/**
 * Where a benchmark's tables go: stdout always, and with BENCH_DOCS=1 also
 * docs/benchmarks/<name>.md, headed by the command, the date, the commit and the CPU, so the
 * figures the docs quote are the ones the benchmark printed.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './launch-run';

export class BenchOutput {
  private readonly lines: string[] = [];

  constructor(
    private readonly name: string,
    private readonly command: string,
  ) {}

  write(text: string): void {
    process.stdout.write(text);
    this.lines.push(text);
  }

  /** Writes docs/benchmarks/<name>.md when BENCH_DOCS=1; returns its path, or undefined. */
  save(): string | undefined {
    if (process.env.BENCH_DOCS !== '1') return undefined;
    const file = path.join(ROOT, 'docs', 'benchmarks', `${this.name}.md`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const header = `# \`${this.command}\`\n\nPrinted by the benchmark itself on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${commit()}, ${cpuModel()}, ${cpuCount()} CPUs, scheduling ${schedulingPolicy()}.\n\n`;
    fs.writeFileSync(file, `${header}${this.lines.join('')}`);
    return file;
  }
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** This process's scheduling policy (/proc/self/stat field 41): what `chrt` set, if anything. */
function schedulingPolicy(): string {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const policy = Number(fields[38]);
  const priority = Number(fields[37]);
  const names: Record<number, string> = {
    0: 'SCHED_OTHER (default)',
    1: `SCHED_FIFO priority ${priority}`,
    2: `SCHED_RR priority ${priority} (chrt -r)`,
    3: 'SCHED_BATCH',
    5: 'SCHED_IDLE',
  };
  return names[policy] ?? `policy ${policy}`;
}

function cpuModel(): string {
  const m = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m);
  return m?.[1] ?? 'unknown CPU';
}

function cpuCount(): number {
  return (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm) ?? []).length;
}
