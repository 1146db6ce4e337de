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

/** A non-negative number flag (`--rounds 10`); a bare flag or none gives the fallback. */
export const numFlag = (name: string, fallback: number): number => {
  const v = flag(name);
  if (v === undefined || v === true) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${v}`);
  return n;
};

/** A string flag (`--backend log`); a bare flag or none gives the fallback. */
export const strFlag = (name: string, fallback: string): string => {
  const v = flag(name);
  return typeof v === 'string' ? v : fallback;
};
