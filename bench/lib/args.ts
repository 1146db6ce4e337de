/** Tiny flag parsing for the benches: `--name value`, `--name=value`, `--flag`. */
export const flag = (name: string, argv: readonly string[] = process.argv.slice(2)): string | true | undefined => {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === `--${name}`) {
      const next = argv[i + 1];
      return next !== undefined && !next.startsWith('--') ? next : true;
    }
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
};

/** A comma-separated list of positive integers, e.g. `--keys 100000,1000000`. */
export const intList = (name: string, fallback: readonly number[]): number[] => {
  const v = flag(name);
  if (v === undefined || v === true) return [...fallback];
  const list = v.split(',').map((x) => Number(x.replace(/_/g, '')));
  if (list.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`--${name} wants positive integers, got ${v}`);
  return list;
};
