/**
 * "Did you mean" for unknown config keys. Most typos are a wrong case (batchsize), one or two
 * slipped letters (learningRate vs lr is beyond help), or a right name at the wrong level
 * (`batchSize:` at the top instead of under `data:`); the search covers all three.
 */

/** Levenshtein distance, case-insensitive so a case slip costs nothing. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  let prev = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const cur = [i];
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      cur.push(Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost));
    }
    prev = cur;
  }
  return prev[t.length];
}

/** Farther than this and a suggestion is noise: a third of the name, at least 2 edits. */
function maxDistance(key: string): number {
  return Math.max(2, Math.floor(key.length / 3));
}

function lastSegment(path: string): string {
  return path.slice(path.lastIndexOf('.') + 1);
}

/**
 * Of `names`, the one a misspelt `typed` most likely meant (compared as `nameOf` gives them),
 * or none within reach. Also the CLI's "did you mean" for commands and flags.
 */
export function closestName(
  typed: string,
  names: readonly string[],
  nameOf: (name: string) => string = (n) => n,
): string | undefined {
  let best: string | undefined;
  let bestDistance = maxDistance(typed) + 1;
  for (const name of names) {
    const d = editDistance(typed, nameOf(name));
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * The known path a misspelt `key` most likely meant: a sibling first (same level), else a
 * field of that name anywhere in the spec. `siblings` and `allPaths` are full dotted paths.
 */
export function closestPath(key: string, siblings: readonly string[], allPaths: readonly string[]): string | undefined {
  return closestName(key, siblings, lastSegment) ?? closestName(key, allPaths, lastSegment);
}
