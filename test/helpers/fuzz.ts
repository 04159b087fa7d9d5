/**
 * Settings for property-based tests (fast-check): the seed is printed before the run, so a failure
 * replays with FUZZ_SEED=<seed>, and FUZZ_RUNS scales the number of runs (the soak runs many more
 * than `npm test` does).
 */
import fc from 'fast-check';

export function fuzzParameters(name: string, runs: number): fc.Parameters<unknown> {
  const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Date.now() ^ (Math.random() * 0x7fffffff);
  const numRuns = Math.max(1, Math.round(runs * Number(process.env.FUZZ_RUNS_FACTOR ?? 1)));
  console.log(`fuzz ${name}: ${numRuns} runs, seed ${seed} (replay: FUZZ_SEED=${seed})`);
  return { seed, numRuns, endOnFailure: true };
}

/** A byte-level edit of a text: characters inserted, deleted or replaced at a position. */
export interface TextEdit {
  at: number;
  remove: number;
  insert: string;
}

/** Characters that mean something to YAML and HTTP parsers, and a few that should not appear at all. */
const SIGNIFICANT = [':', ' ', '\t', '\n', '\r', '-', '#', '{', '}', '[', ']', ',', '&', '*', '!', '|', '>', "'", '"', '%', '@', '`', '?', '\0', '\u00ff', '\u2028', '\ufeff', '0', '9', '~'];

export const textEdit: fc.Arbitrary<TextEdit> = fc.record({
  at: fc.nat(),
  remove: fc.nat({ max: 8 }),
  insert: fc.oneof(fc.string({ maxLength: 6 }), fc.array(fc.constantFrom(...SIGNIFICANT), { maxLength: 6 }).map((chars) => chars.join(''))),
});

export function applyEdits(text: string, edits: readonly TextEdit[]): string {
  let out = text;
  for (const edit of edits) {
    const at = out.length === 0 ? 0 : edit.at % (out.length + 1);
    out = out.slice(0, at) + edit.insert + out.slice(at + edit.remove);
  }
  return out;
}
