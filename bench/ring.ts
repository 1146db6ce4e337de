/**
 * Claim statistics: for a grid of ring sizes and cluster sizes, the tail
 * violations of the initial layout and after joins and leaves, and how many
 * partitions each join or leave moved against the minimum balance forces.
 *
 *   node --import tsx bench/ring.ts [--n 3] [--q 64,256,1024] [--s 3..16] [--json out.json]
 */
import { claimInitial, rebalanceReport, type NodeSpec } from '../src/core/claim.js';
import { ownershipCounts, tailViolations } from '../src/core/ring.js';
import { writeFileSync } from 'node:fs';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
};
const n = Number(arg('n', '3'));
const qs = arg('q', '64,256,1024').split(',').map(Number);
const [sLo, sHi] = arg('s', '3..16').split('..').map(Number) as [number, number];
const extraArg = arg('extra', '');
const maxExtraMoves = extraArg === '' ? undefined : Number(extraArg);
const opts = maxExtraMoves === undefined ? { n } : { n, maxExtraMoves };
const jsonOut = process.argv.includes('--json') ? arg('json', 'bench-ring.json') : undefined;

const ids = (s: number): NodeSpec[] => Array.from({ length: s }, (_, i) => ({ id: `n${String(i).padStart(2, '0')}` }));

interface Row {
  q: number;
  s: number;
  initialViolations: number;
  joinViolations: number;
  joinMoves: number;
  joinForced: number;
  joinToOthers: number;
  leaveViolations: number;
  leaveMoves: number;
  leaveForced: number;
  balanceSpread: number;
  ms: number;
}
const rows: Row[] = [];
for (const q of qs) {
  for (let s = sLo; s <= sHi; s++) {
    const t0 = performance.now();
    const nodes = ids(s);
    const initial = claimInitial(Math.log2(q), nodes, { n });
    // Join: S → S+1 (a new id that sorts last), from the S-node initial layout.
    const joined = rebalanceReport(initial, [...nodes, { id: 'z-new' }], opts);
    let toOthers = 0;
    joined.ring.owners.forEach((o, p) => {
      if (o !== initial.owners[p] && o !== 'z-new') toOthers++;
    });
    // Leave: S+1 → S, the node in the middle of the id order leaves the S+1 initial layout.
    const bigger = claimInitial(Math.log2(q), ids(s + 1), { n });
    const leaver = `n${String(Math.floor(s / 2)).padStart(2, '0')}`;
    const left = rebalanceReport(bigger, ids(s + 1).filter((x) => x.id !== leaver), opts);
    const counts = [...ownershipCounts(joined.ring).values()];
    rows.push({
      q,
      s,
      initialViolations: tailViolations(initial, n),
      joinViolations: tailViolations(joined.ring, n),
      joinMoves: joined.moves,
      joinForced: joined.forcedMoves,
      joinToOthers: toOthers,
      leaveViolations: tailViolations(left.ring, n),
      leaveMoves: left.moves,
      leaveForced: left.forcedMoves,
      balanceSpread: Math.max(...counts) - Math.min(...counts),
      ms: Math.round(performance.now() - t0),
    });
  }
}

console.log(`n = ${n}; join: S → S+1 from claimInitial(S); leave: S+1 → S from claimInitial(S+1)`);
console.log('| Q | S | init viol | join viol | join moves (forced, to others) | ceil(Q/(S+1)) | leave viol | leave moves (forced) | max−min after join | ms |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.q} | ${r.s} | ${r.initialViolations} | ${r.joinViolations} | ${r.joinMoves} (${r.joinForced}, ${r.joinToOthers}) | ${Math.ceil(r.q / (r.s + 1))} | ${r.leaveViolations} | ${r.leaveMoves} (${r.leaveForced}) | ${r.balanceSpread} | ${r.ms} |`,
  );
}
if (jsonOut !== undefined) writeFileSync(jsonOut, JSON.stringify({ n, rows }, null, 2));
