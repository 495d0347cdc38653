/**
 * Raw inputs for prediction, from the formats people have at hand: an IDX images file (as the
 * dataset ships it), a CSV with the training columns (extra columns such as the target are
 * ignored), or JSON (`[[...], ...]` or `{"instances": [[...], ...]}`). Values are raw, as in the
 * data files; the model's saved preprocessing normalizes them.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { RingtrainError } from '../core';
import { parseCsv } from './csv-reader';
import { parseIdx } from './idx-reader';
import type { Preprocess } from './preprocess';

export interface RawRows {
  x: Float32Array;
  rows: number;
}

/** Checks a parsed JSON body: rows of `features` finite numbers. Returns rows or a reason. */
export function instancesFromJson(body: unknown, features: number, maxRows: number): RawRows | string {
  const list = Array.isArray(body)
    ? body
    : typeof body === 'object' && body !== null
      ? (body as { instances?: unknown }).instances
      : undefined;
  if (!Array.isArray(list)) return `expected {"instances": [[${features} numbers], ...]} or a JSON array of rows`;
  if (list.length === 0) return 'no instances: send at least one row';
  if (list.length > maxRows) return `${list.length} instances in one request, at most ${maxRows}: split the request`;
  const x = new Float32Array(list.length * features);
  for (let r = 0; r < list.length; r++) {
    const row: unknown = list[r];
    const flat = Array.isArray(row) ? (row as unknown[]).flat(3) : undefined;
    if (flat === undefined || flat.length !== features) {
      return `instance ${r} has ${flat?.length ?? 'no'} values, the model takes ${features} per row`;
    }
    for (let j = 0; j < features; j++) {
      const v = flat[j];
      if (typeof v !== 'number' || !Number.isFinite(v))
        return `instance ${r}, value ${j} is ${JSON.stringify(v)}, expected a finite number`;
      x[r * features + j] = v;
    }
  }
  return { x, rows: list.length };
}

/** Reads a prediction input file by its extension (.json, .csv, else IDX, optionally .gz). */
export function readPredictInput(file: string, p: Preprocess, maxRows = Number.MAX_SAFE_INTEGER): RawRows {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new RingtrainError('DATA_INVALID', `cannot read input '${file}': ${(e as Error).message}`);
  }
  const ext = extname(file).toLowerCase();
  if (ext === '.json') {
    let body: unknown;
    try {
      body = JSON.parse(buf.toString('utf8'));
    } catch (e) {
      throw new RingtrainError('DATA_INVALID', `${file}: not valid JSON (${(e as Error).message})`);
    }
    const r = instancesFromJson(body, p.features, maxRows);
    if (typeof r === 'string') throw new RingtrainError('DATA_INVALID', `${file}: ${r}`);
    return r;
  }
  if (ext === '.csv') return csvRows(buf.toString('utf8'), file, p);
  const idx = parseIdx(ext === '.gz' ? gunzipSync(buf) : buf, file);
  const rows = idx.shape[0] as number;
  const per = idx.shape.slice(1).reduce((a, b) => a * b, 1);
  if (per !== p.features)
    throw new RingtrainError(
      'DATA_INVALID',
      `${file}: samples of shape [${idx.shape.slice(1).join(',')}] hold ${per} values, the model takes ${p.features}`,
    );
  return { x: Float32Array.from(idx.data as ArrayLike<number>), rows };
}

function csvRows(text: string, file: string, p: Preprocess): RawRows {
  const t = parseCsv(text, file);
  // Columns by the names the model was trained on; without names, every column in order.
  const names = p.featureNames ?? t.header.filter((h) => h !== p.target);
  const cols = names.map((n) => t.header.indexOf(n));
  const missing = names.filter((_, i) => cols[i]! < 0);
  if (missing.length > 0)
    throw new RingtrainError(
      'DATA_INVALID',
      `${file}: missing column(s) ${missing.join(', ')} that the model was trained on`,
    );
  if (names.length !== p.features)
    throw new RingtrainError('DATA_INVALID', `${file}: ${names.length} feature columns, the model takes ${p.features}`);
  const x = new Float32Array(t.rows.length * names.length);
  t.rows.forEach((row, r) =>
    cols.forEach((c, j) => {
      const v = Number((row[c] as string).trim());
      if (!Number.isFinite(v) || (row[c] as string).trim() === '')
        throw new RingtrainError(
          'DATA_INVALID',
          `${file}: line ${t.lines[r]}, column '${names[j]}': '${row[c]}' is not a number`,
        );
      x[r * names.length + j] = v;
    }),
  );
  return { x, rows: t.rows.length };
}
