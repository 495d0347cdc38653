/**
 * CSV for tabular data: RFC 4180 parsing (quoted fields, doubled quotes, newlines inside quotes,
 * CRLF), a header line naming the columns, numeric features and one target column. Errors name
 * the file, the line and the column, because a CSV that is wrong on line 40,312 is common.
 */
import { readFileSync } from 'node:fs';
import { RingtrainError } from '../core';
import type { TaskKind } from '../config';

export interface CsvTable {
  header: string[];
  /** Data rows (no header); each as long as the header. */
  rows: string[][];
  /** 1-based line number where each data row starts, for messages. */
  lines: number[];
}

/** Parses CSV text; `name` is only used in messages. */
export function parseCsv(text: string, name: string): CsvTable {
  const records: { fields: string[]; line: number }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let startLine = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a UTF-8 BOM, as spreadsheets write
  const endRecord = (): void => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === '')) records.push({ fields, line: startLine });
    fields = [];
    field = '';
  };
  for (; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else {
          quoted = false;
        }
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      fields.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      startLine = line;
    } else field += ch;
  }
  if (quoted)
    throw new RingtrainError('DATA_INVALID', `${name}: a quoted field opened on line ${startLine} is never closed`);
  if (field !== '' || fields.length > 0) endRecord();
  if (records.length === 0)
    throw new RingtrainError('DATA_INVALID', `${name}: the file is empty; expected a header line and data rows`);
  const header = (records[0] as { fields: string[] }).fields.map((h) => h.trim());
  const rows: string[][] = [];
  const lines: number[] = [];
  for (const r of records.slice(1)) {
    if (r.fields.length !== header.length) {
      throw new RingtrainError(
        'DATA_INVALID',
        `${name}: line ${r.line} has ${r.fields.length} fields, the header has ${header.length} (${header.join(',')})`,
      );
    }
    rows.push(r.fields);
    lines.push(r.line);
  }
  return { header, rows, lines };
}

export function readCsv(file: string): CsvTable {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new RingtrainError(
      'DATA_INVALID',
      `cannot read CSV file '${file}': ${(e as Error).message}; set data.trainFile / data.testFile to existing files`,
    );
  }
  return parseCsv(text, file);
}

/** A CSV turned into numbers: raw features, and labels (classification) or targets (regression). */
export interface CsvColumns {
  featureNames: string[];
  target: string;
  /** rows x features, not yet normalized. */
  x: Float32Array;
  labels: Int32Array;
  targets?: Float32Array;
  count: number;
}

/**
 * Splits a table into features and target. For classification, `classNames` maps text labels
 * to ids (built from the training file and reused for the test file); numeric labels that are
 * all non-negative integers are used as ids directly. Integer labels mixed with text (a stray
 * 'cat' among 0..9) are refused unless `classes` (data.classes) says how many there are: then
 * every label is a class name.
 */
export function csvColumns(
  t: CsvTable,
  name: string,
  target: string,
  task: TaskKind,
  classNames: string[] | undefined,
  classes = 0,
): CsvColumns & { classNames?: string[] } {
  const targetName = target === '' ? (t.header[t.header.length - 1] as string) : target;
  const ti = t.header.indexOf(targetName);
  if (ti < 0)
    throw new RingtrainError(
      'DATA_INVALID',
      `${name}: no column '${targetName}' for data.target; columns are ${t.header.join(', ')}`,
    );
  const featureNames = t.header.filter((_, j) => j !== ti);
  const n = t.rows.length;
  const f = featureNames.length;
  if (f === 0)
    throw new RingtrainError(
      'DATA_INVALID',
      `${name}: the only column is the target '${targetName}'; there are no features`,
    );
  const x = new Float32Array(n * f);
  const number = (v: string, r: number, col: string): number => {
    const s = v.trim();
    const num = s === '' ? NaN : Number(s);
    if (!Number.isFinite(num)) {
      throw new RingtrainError(
        'DATA_INVALID',
        `${name}: line ${t.lines[r]}, column '${col}': '${v}' is not a number; features must be numeric (encode categories as numbers first)`,
      );
    }
    return num;
  };
  for (let r = 0; r < n; r++) {
    const row = t.rows[r] as string[];
    let k = 0;
    for (let j = 0; j < row.length; j++)
      if (j !== ti) x[r * f + k++] = number(row[j] as string, r, t.header[j] as string);
  }
  const raw = t.rows.map((row) => (row[ti] as string).trim());
  if (task === 'regression') {
    const targets = Float32Array.from(raw, (v, r) => number(v, r, targetName));
    return { featureNames, target: targetName, x, labels: new Int32Array(n), targets, count: n };
  }
  const names = classNames ?? labelNames(raw, name, t.lines, classes);
  const labels = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const v = raw[r] as string;
    const id = names !== undefined ? names.indexOf(v) : Number(v);
    if (id < 0 || !Number.isInteger(id)) {
      throw new RingtrainError(
        'DATA_INVALID',
        `${name}: line ${t.lines[r]}: label '${v}' is not one of the training labels (${(names ?? []).join(', ')})`,
      );
    }
    labels[r] = id;
  }
  return { featureNames, target: targetName, x, labels, count: n, classNames: names };
}

/** Class names for text labels (sorted), or undefined when every label is an integer id. */
function labelNames(
  raw: readonly string[],
  name: string,
  lines: readonly number[],
  classes: number,
): string[] | undefined {
  const isId = (v: string): boolean => /^\d+$/.test(v);
  const firstId = raw.findIndex(isId);
  const firstText = raw.findIndex((v) => !isId(v));
  if (firstText < 0) return undefined;
  if (firstId >= 0 && classes === 0) {
    throw new RingtrainError(
      'DATA_INVALID',
      `${name}: line ${lines[firstText]}: label '${raw[firstText]}' is text among integer labels (line ${lines[firstId]} has '${raw[firstId]}'): fix the stray label, or set data.classes to the number of classes (every label is then a class name)`,
    );
  }
  const names = [...new Set(raw)].sort();
  if (classes > 0 && names.length > classes) {
    throw new RingtrainError(
      'DATA_INVALID',
      `${name}: ${names.length} distinct labels (${names.slice(0, 12).join(', ')}${names.length > 12 ? ', ...' : ''}) but data.classes is ${classes}`,
    );
  }
  return names;
}
