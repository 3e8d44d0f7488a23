// How the fuzz tests (fast-check) run: a fixed seed, so that every run of
// npm test tries the same cases, and knobs for exploring.
//   TOROV_FUZZ_SEED=<n>     another seed; =random draws one (fast-check prints it on failure)
//   TOROV_FUZZ_PATH=<path>  with the seed, replays the failure fast-check printed
//   TOROV_FUZZ_RUNS=<k>     k times as many cases (a long run)

const SEED_ENV = process.env.TOROV_FUZZ_SEED;
export const SEED_OVERRIDE = SEED_ENV === "random" ? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0 : SEED_ENV ? Number(SEED_ENV) : undefined;
export const SCALE = Math.max(1, Number(process.env.TOROV_FUZZ_RUNS ?? 1));
export const PATH = process.env.TOROV_FUZZ_PATH;
/** Replaying one case: the checks that cases cover enough ground do not apply. */
export const REPLAY = PATH !== undefined;

/** fast-check's options for `n` cases (scaled) from `defaultSeed` unless overridden. */
export function fuzzOptions(n: number, defaultSeed: number): { seed: number; numRuns: number; path?: string } {
  return { seed: SEED_OVERRIDE ?? defaultSeed, numRuns: Math.max(1, Math.round(n * SCALE)), ...(PATH ? { path: PATH } : {}) };
}
