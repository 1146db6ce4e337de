/**
 * Ring and claim statistics, side by side with a baseline measured in the
 * same run.
 *
 * 1. Claim grid: for each Q and S, the tail violations of the initial layout
 *    and after a join (S → S+1) and a leave (S+1 → S), and the partitions each
 *    moved, against the minimum balance forces. Baseline: the naive stripe
 *    p ↦ p mod S re-laid from scratch on every change. Also the leave done by
 *    `restripe` (clean, at the price of moving most partitions).
 * 2. Lookup: key hash → partition → preference list through the ring's cached
 *    lists, against walking the ring for every lookup. Reported as ns/lookup
 *    and as a ratio (a ratio holds on a noisy machine; an absolute time does not).
 *
 *   node --import tsx bench/ring.ts [--n 3] [--q 64,256,1024] [--s 3..16] [--extra M] [--json out.json]
 */
import { writeFileSync } from 'node:fs';
import { claimInitial, rebalanceReport, restripeReport, type NodeSpec } from '../src/core/claim.js';
import { makeRing, ownershipCounts, partitionOfHash, preferenceList, tailViolations, type Ring } from '../src/core/ring.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
};
const n = Number(arg('n', '3'));
const qs = arg('q', '64,256,1024').split(',').map(Number);
const [sLo, sHi] = arg('s', '3..16').split('..').map(Number) as [number, number];
const extraArg = arg('extra', '');
const opts = extraArg === '' ? { n } : { n, maxExtraMoves: Number(extraArg) };
const jsonOut = process.argv.includes('--json') ? arg('json', 'bench-ring.json') : undefined;

const id = (i: number): string => `n${String(i).padStart(2, '0')}`;
const ids = (s: number): NodeSpec[] => Array.from({ length: s }, (_, i) => ({ id: id(i) }));
const stripe = (q: number, nodes: readonly NodeSpec[]): Ring => makeRing(Array.from({ length: q }, (_, p) => nodes[p % nodes.length]!.id));
const moved = (a: Ring, b: Ring): number => a.owners.filter((o, p) => o !== b.owners[p]).length;

interface Row {
  readonly q: number;
  readonly s: number;
  readonly initialViolations: number;
  readonly stripeViolations: number;
  readonly joinViolations: number;
  readonly joinMoves: number;
  readonly joinForced: number;
  readonly joinToOthers: number;
  readonly stripeJoinMoves: number;
  readonly leaveViolations: number;
  readonly leaveMoves: number;
  readonly leaveForced: number;
  readonly stripeLeaveMoves: number;
  readonly restripeLeaveViolations: number;
  readonly restripeLeaveMoves: number;
  readonly countSpread: number;
  readonly loadSpread: number;
  readonly ms: number;
}

const rows: Row[] = [];
for (const q of qs) {
  for (let s = sLo; s <= sHi; s++) {
    const t0 = performance.now();
    const nodes = ids(s);
    const initial = claimInitial(Math.log2(q), nodes, { n });
    // Join: a new id that sorts last, so the naive stripe shifts as little as it can.
    const joinNodes = [...nodes, { id: 'z-new' }];
    const joined = rebalanceReport(initial, joinNodes, opts);
    const toOthers = joined.ring.owners.filter((o, p) => o !== initial.owners[p] && o !== 'z-new').length;
    // Leave: the node in the middle of the id order leaves an (S+1)-node layout.
    const bigger = claimInitial(Math.log2(q), ids(s + 1), { n });
    const leaver = id(Math.floor(s / 2));
    const remaining = ids(s + 1).filter((x) => x.id !== leaver);
    const left = rebalanceReport(bigger, remaining, opts);
    const restriped = restripeReport(bigger, remaining, opts);
    const counts = [...ownershipCounts(joined.ring).values()];
    const loads = joinNodes.map((x) => {
      let c = 0;
      for (let p = 0; p < q; p++) if (preferenceList(joined.ring, p, n).includes(x.id)) c++;
      return c;
    });
    rows.push({
      q,
      s,
      initialViolations: tailViolations(initial, n),
      stripeViolations: tailViolations(stripe(q, nodes), n),
      joinViolations: tailViolations(joined.ring, n),
      joinMoves: joined.moves,
      joinForced: joined.forcedMoves,
      joinToOthers: toOthers,
      stripeJoinMoves: moved(stripe(q, nodes), stripe(q, joinNodes)),
      leaveViolations: tailViolations(left.ring, n),
      leaveMoves: left.moves,
      leaveForced: left.forcedMoves,
      stripeLeaveMoves: moved(stripe(q, ids(s + 1)), stripe(q, remaining)),
      restripeLeaveViolations: tailViolations(restriped.ring, n),
      restripeLeaveMoves: restriped.moves,
      countSpread: Math.max(...counts) - Math.min(...counts),
      loadSpread: Math.max(...loads) - Math.min(...loads),
      ms: Math.round(performance.now() - t0),
    });
  }
}

console.log(`## claim grid (n = ${n}${extraArg === '' ? '' : `, maxExtraMoves = ${extraArg}`})`);
console.log('join: S → S+1 from claimInitial(S); leave: S+1 → S from claimInitial(S+1). "stripe" = p mod S re-laid from scratch.\n');
console.log(
  '| Q | S | viol init (stripe) | join viol | join moves (forced, to others) | ⌈Q/(S+1)⌉ | stripe join moves | leave viol | leave moves (forced) | stripe leave moves | restripe leave viol / moves | owned max−min | replica load max−min | ms |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.q} | ${r.s} | ${r.initialViolations} (${r.stripeViolations}) | ${r.joinViolations} | ${r.joinMoves} (${r.joinForced}, ${r.joinToOthers}) | ${Math.ceil(r.q / (r.s + 1))} | ${r.stripeJoinMoves} | ${r.leaveViolations} | ${r.leaveMoves} (${r.leaveForced}) | ${r.stripeLeaveMoves} | ${r.restripeLeaveViolations} / ${r.restripeLeaveMoves} | ${r.countSpread} | ${r.loadSpread} | ${r.ms} |`,
  );
}
const sum = (f: (r: Row) => number): number => rows.reduce((a, r) => a + f(r), 0);
console.log(
  `\ntotals: join moves ${sum((r) => r.joinMoves)} vs stripe ${sum((r) => r.stripeJoinMoves)} (ratio ${(sum((r) => r.joinMoves) / sum((r) => r.stripeJoinMoves)).toFixed(3)}); ` +
    `leave moves ${sum((r) => r.leaveMoves)} vs stripe ${sum((r) => r.stripeLeaveMoves)} (ratio ${(sum((r) => r.leaveMoves) / sum((r) => r.stripeLeaveMoves)).toFixed(3)}); ` +
    `violations init ${sum((r) => r.initialViolations)} vs stripe ${sum((r) => r.stripeViolations)}, after join ${sum((r) => r.joinViolations)}, after leave ${sum((r) => r.leaveViolations)}`,
);

// ---------------------------------------------------------------------------
// lookup: hash → partition → preference list

const lookups = 1 << 20;
const hashes = new Uint32Array(lookups);
let x = 0x9e3779b9;
for (let i = 0; i < lookups; i++) {
  // xorshift32: a fixed pseudo-random stream, the same in every run.
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  hashes[i] = x >>> 0;
}
const ring = claimInitial(10, ids(8), { n });
const naiveList = (r: Ring, p: number, k: number): string[] => {
  const out: string[] = [];
  for (let i = 0; i < r.partitionCount && out.length < k; i++) {
    const o = r.owners[(p + i) % r.partitionCount]!;
    if (!out.includes(o)) out.push(o);
  }
  return out;
};
preferenceList(ring, 0, n); // build the cache outside the timed loop
const time = (f: () => number): { ns: number; sink: number } => {
  let best = Infinity;
  let sink = 0;
  for (let round = 0; round < 5; round++) {
    const t = performance.now();
    sink += f();
    best = Math.min(best, performance.now() - t);
  }
  return { ns: (best * 1e6) / lookups, sink };
};
const cached = time(() => {
  let acc = 0;
  for (let i = 0; i < lookups; i++) acc += preferenceList(ring, partitionOfHash(ring, hashes[i]!), n).length;
  return acc;
});
const walked = time(() => {
  let acc = 0;
  for (let i = 0; i < lookups; i++) acc += naiveList(ring, partitionOfHash(ring, hashes[i]!), n).length;
  return acc;
});
console.log(`\n## lookup (Q = 1024, S = 8, n = ${n}, ${lookups} hashes, best of 5)`);
console.log(`cached preferenceList: ${cached.ns.toFixed(1)} ns/lookup; walk per lookup: ${walked.ns.toFixed(1)} ns/lookup; ratio ${(walked.ns / cached.ns).toFixed(1)}x`);
if (cached.sink !== walked.sink) throw new Error('lookup results differ');

if (jsonOut !== undefined) {
  writeFileSync(jsonOut, JSON.stringify({ n, rows, lookup: { cachedNs: cached.ns, walkNs: walked.ns } }, null, 2));
  console.log(`wrote ${jsonOut}`);
}
