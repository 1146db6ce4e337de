/**
 * Property tests run twice: once from a fixed seed (reproducible in CI) and
 * once from the run's seed (RINGKV_SEED, printed by scripts/test.mjs), so a
 * new counterexample can turn up and be replayed with the printed seed.
 */
import fc from 'fast-check';

export const FIXED_SEED = 20070101;

export const runSeed = (): number => {
  const s = Number(process.env.RINGKV_SEED);
  return Number.isFinite(s) ? s : FIXED_SEED;
};

/** Asserts a property from the fixed seed and from the run's seed. */
export const check = <T>(prop: fc.IProperty<T> | fc.IAsyncProperty<T>, numRuns = 100): void | Promise<void> => {
  const seeds = [FIXED_SEED, runSeed()];
  if (prop.isAsync()) {
    return (async () => {
      for (const seed of seeds) await fc.assert(prop as fc.IAsyncProperty<T>, { seed, numRuns });
    })();
  }
  for (const seed of seeds) fc.assert(prop as fc.IProperty<T>, { seed, numRuns });
};
