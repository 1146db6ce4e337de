/**
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and lists where the time
 * went: self time per function (name, file:line) as a share of all samples.
 *
 *   node --import tsx bench/lib/cpuprofile.ts <file.cpuprofile> [top]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples?: readonly number[];
}

export interface SelfTime {
  readonly fn: string;
  readonly where: string;
  readonly sharePct: number;
}

const shortUrl = (url: string): string => {
  const i = url.indexOf('/node_modules/');
  if (i >= 0) return url.slice(i + 1);
  const j = url.search(/\/(src|protocol|bench|test)\//);
  return j >= 0 ? url.slice(j + 1) : url.replace(/^file:\/\//, '');
};

/** Functions by self time, largest first. */
export const selfTimes = (profile: Profile, top = 25): SelfTime[] => {
  const hits = new Map<number, number>();
  if (profile.samples !== undefined && profile.samples.length > 0) {
    for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  } else {
    for (const n of profile.nodes) hits.set(n.id, n.hitCount ?? 0);
  }
  const byFn = new Map<string, { fn: string; where: string; hits: number }>();
  let total = 0;
  for (const n of profile.nodes) {
    const h = hits.get(n.id) ?? 0;
    total += h;
    const fn = n.callFrame.functionName || '(anonymous)';
    const where = n.callFrame.url === '' ? '' : `${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
    const k = `${fn}@${where}`;
    const cur = byFn.get(k) ?? { fn, where, hits: 0 };
    cur.hits += h;
    byFn.set(k, cur);
  }
  return [...byFn.values()]
    .sort((a, b) => b.hits - a.hits)
    .slice(0, top)
    .map((e) => ({ fn: e.fn, where: e.where, sharePct: total === 0 ? 0 : Math.round((e.hits / total) * 1000) / 10 }));
};

/** Self time summed per script (ringkv files, node internals, dependencies), largest first. */
export const selfTimesByFile = (profile: Profile, top = 15): SelfTime[] => {
  const byFile = new Map<string, number>();
  let total = 0;
  for (const s of selfTimes(profile, Number.MAX_SAFE_INTEGER)) {
    const file = s.where === '' ? s.fn : s.where.replace(/:\d+$/, '');
    byFile.set(file, (byFile.get(file) ?? 0) + s.sharePct);
    total += s.sharePct;
  }
  return [...byFile.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([where, pct]) => ({ fn: '', where, sharePct: total === 0 ? 0 : Math.round((pct / total) * 1000) / 10 }));
};

export const readProfile = (file: string): Profile => JSON.parse(readFileSync(file, 'utf8')) as Profile;

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (file === undefined) {
    console.error('usage: cpuprofile.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  const profile = readProfile(file);
  const top = Number(process.argv[3] ?? 25);
  console.log('self time by function:');
  for (const s of selfTimes(profile, top)) console.log(`${s.sharePct.toFixed(1).padStart(5)}%  ${s.fn.padEnd(40)} ${s.where}`);
  console.log('\nself time by file:');
  for (const s of selfTimesByFile(profile, top)) console.log(`${s.sharePct.toFixed(1).padStart(5)}%  ${s.where}`);
}
