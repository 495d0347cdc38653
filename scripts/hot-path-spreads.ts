/**
 * The lint's check for the step's path. Code a training step or a ring message runs through every time. An object literal there may not
 * start with a spread and go on (`{ ...o, x }`): V8 gives each such object a hidden class of its
 * own, and a step's worth of them outlived scavenges (test/unit/train-hidden-classes.test.ts).
 * The two exceptions build their objects once (a ring group's identity, HTTP/2 session options).
 */
const HOT_PATH =
  /^src\/(allreduce\/|worker\/(step-runner|step-buffer|step-clock|epoch-tally|loop-hooks)\.ts|train\/(fused-step|overlapped-step)\.ts)/;
const BUILT_ONCE = new Set(['src/allreduce/group-transport.ts', 'src/allreduce/grpc-h2.ts']);
const SPREAD_THEN_MORE = /\{\s*\.\.\.[^,{}()]+(\([^()]*\))?\s*,/g;

/** Problems in `code` (the file's text with comments and strings blanked) of the file at `rel`. */
export function spreadsOnHotPath(rel: string, code: string): string[] {
  if (!HOT_PATH.test(rel) || BUILT_ONCE.has(rel)) return [];
  return [...code.matchAll(SPREAD_THEN_MORE)].map(
    (m) =>
      `${rel}:${code.slice(0, m.index).split('\n').length}: an object that starts with a spread and goes on gets a hidden class of its own each time; write its fields out (this code runs every step or message)`,
  );
}
