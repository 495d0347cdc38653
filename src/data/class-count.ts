/**
 * How many classes a classification dataset has. Inferred as the largest label + 1, a single
 * corrupt label (a byte of 200 among 0..9) would silently build a 201-class model; so an
 * inferred count must leave no class without a sample, and `data.classes` (when given) is the
 * count, with every label below it.
 */
import { RingtrainError } from '../core';

export interface LabelSource {
  /** File the labels come from, for messages. */
  name: string;
  labels: Int32Array;
  /** Where label i lives, as a person finds it ("sample 5", "line 7"). */
  where: (i: number) => string;
}

/** Ranges of the ids missing from `seen`, e.g. "classes 3..199 (197 of them)". */
function describeMissing(seen: Uint8Array): string {
  const missing: number[] = [];
  seen.forEach((s, c) => {
    if (s === 0) missing.push(c);
  });
  const ranges: string[] = [];
  for (let i = 0; i < missing.length && ranges.length < 4;) {
    let j = i;
    while (j + 1 < missing.length && missing[j + 1] === (missing[j] as number) + 1) j++;
    ranges.push(i === j ? String(missing[i]) : `${missing[i]}..${missing[j]}`);
    i = j + 1;
  }
  const count = missing.length === 1 ? '' : ` (${missing.length} of them)`;
  return `class${missing.length === 1 ? '' : 'es'} ${ranges.join(', ')}${ranges.length < missing.length && ranges.length === 4 ? ', ...' : ''}${count}`;
}

/** The class count of integer labels: `explicit` (data.classes) when > 0, else inferred and checked. */
export function classCount(sources: readonly LabelSource[], explicit: number): number {
  let max = -1;
  let maxAt: { s: LabelSource; i: number } | undefined;
  for (const s of sources) {
    for (let i = 0; i < s.labels.length; i++) {
      const v = s.labels[i] as number;
      if (explicit > 0 && v >= explicit) {
        throw new RingtrainError(
          'DATA_INVALID',
          `${s.name}: label ${v} of ${s.where(i)} is out of range: data.classes is ${explicit}, so labels are 0..${explicit - 1}`,
        );
      }
      if (v > max) {
        max = v;
        maxAt = { s, i };
      }
    }
  }
  if (explicit > 0) return explicit;
  if (maxAt === undefined) return 0;
  const seen = new Uint8Array(max + 1);
  for (const s of sources) for (const v of s.labels) seen[v] = 1;
  if (seen.includes(0)) {
    throw new RingtrainError(
      'DATA_INVALID',
      `${maxAt.s.name}: label ${max} of ${maxAt.s.where(maxAt.i)} makes ${max + 1} classes, but ${describeMissing(seen)} have no sample: a corrupt label? Fix it, or set data.classes=${max + 1} if there really are ${max + 1} classes`,
    );
  }
  return max + 1;
}
