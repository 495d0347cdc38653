/**
 * The per-class table `ringtrain eval` prints, laid out as scikit-learn's classification_report,
 * then the confusion matrix (rows: true class, columns: predicted).
 */
import type { ClassificationReport } from '../train';

export function formatClassReport(r: ClassificationReport): string[] {
  const names = r.classes.map((c) => c.label ?? String(c.class));
  const w = Math.max(12, ...names.map((n) => n.length));
  const f = (x: number): string => x.toFixed(4).padStart(10);
  const row = (name: string, p: number, rc: number, f1: number, support: number): string =>
    `${name.padStart(w)}${f(p)}${f(rc)}${f(f1)}${String(support).padStart(10)}`;
  const total = r.classes.reduce((s, c) => s + c.support, 0);
  const lines = [
    `${''.padStart(w)}${'precision'.padStart(10)}${'recall'.padStart(10)}${'f1'.padStart(10)}${'support'.padStart(10)}`,
  ];
  r.classes.forEach((c, i) => lines.push(row(names[i] as string, c.precision, c.recall, c.f1, c.support)));
  lines.push('', `${'accuracy'.padStart(w)}${''.padStart(20)}${f(r.accuracy)}${String(total).padStart(10)}`);
  lines.push(row('macro avg', r.macro.precision, r.macro.recall, r.macro.f1, total));
  lines.push(row('weighted avg', r.weighted.precision, r.weighted.recall, r.weighted.f1, total));
  const cell = Math.max(5, ...r.confusion.flat().map((v) => String(v).length + 1), ...names.map((n) => n.length + 1));
  lines.push(
    '',
    `confusion matrix (rows: true class, columns: predicted)`,
    `${''.padStart(w)}${names.map((n) => n.padStart(cell)).join('')}`,
  );
  r.confusion.forEach((cells, i) =>
    lines.push(`${(names[i] as string).padStart(w)}${cells.map((v) => String(v).padStart(cell)).join('')}`),
  );
  return lines;
}
