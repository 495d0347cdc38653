/**
 * How a buffer of `length` elements is cut into `parts` contiguous chunks: the first
 * `length % parts` chunks get one extra element. Works for length < parts (some chunks are
 * empty) and for any remainder, and every rank computes the same cut.
 */
export interface Chunk {
  offset: number;
  length: number;
}

export function splitChunks(length: number, parts: number): Chunk[] {
  const base = Math.floor(length / parts);
  const extra = length % parts;
  const out: Chunk[] = [];
  let offset = 0;
  for (let i = 0; i < parts; i++) {
    const n = base + (i < extra ? 1 : 0);
    out.push({ offset, length: n });
    offset += n;
  }
  return out;
}

/**
 * `c` cut into pipelined blocks of at most `blockElements`. An empty chunk (length < N) still
 * travels as one empty block, so both ends agree on the message keys.
 */
export function splitBlocks(c: Chunk, blockElements: number): Chunk[] {
  if (c.length === 0) return [c];
  const out: Chunk[] = [];
  for (let off = 0; off < c.length; off += blockElements)
    out.push({ offset: c.offset + off, length: Math.min(blockElements, c.length - off) });
  return out;
}
