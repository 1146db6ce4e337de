/**
 * Claim: who owns which partition. A pure function of its inputs (the node
 * list, sorted by id, their weights, the previous ring and the options): no
 * randomness, so every node that runs it on the same inputs gets the same ring.
 *
 * What it guarantees (each one tested in test/core/claim.test.ts):
 *
 * - Balance. Node i's share is quota_i = Q·w_i/Σw. Every node owns
 *   ⌊quota_i⌋ or ⌈quota_i⌉ partitions, so |count_i − quota_i| < 1; with equal
 *   weights counts differ by at most 1. Balance is never traded for anything
 *   below. Which nodes get the ⌈⌉ is chosen to move as little as possible
 *   (nodes that already hold that many keep it).
 * - Minimal movement. `rebalance` first makes only the moves balance forces:
 *   every partition of a node that left, plus (count − target) partitions from
 *   each node above its new target; no partition moves between two nodes that
 *   both stay at or under target. A join of one node to S equal-weight nodes
 *   therefore moves exactly the new node's target, ⌊Q/(S+1)⌋ or ⌈Q/(S+1)⌉, all
 *   of them to the new node; a leave moves exactly the leaver's partitions. On
 *   top of that, the repair pass may spend at most `maxExtraMoves` further
 *   moves (default `defaultExtraMoves`: 4 for a join, 4 + ⌈c·min(1, 2(n−1)/S)⌉
 *   when departed nodes owned c partitions and S nodes remain) on swaps that
 *   remove tail violations; each such swap strictly lowers the violation count.
 * - Spread. A new node's partitions are placed evenly around the ring (about
 *   every (S+1)-th partition, preferring partitions whose owner repeats
 *   nearby) and never within n of one another when that can be avoided. Only
 *   the new node gains positions, so a join can add a violation only through
 *   the new node itself; in every tested case (S ≥ n) a join left the count
 *   no higher than before (property-tested, not proven).
 * - Tail violations (see ring.ts `tailViolations`). When every count is k or
 *   k+1 (equal weights, Q ≥ S) the initial layout is built from rounds of the
 *   nodes in id order and has zero violations whenever S − ⌈(S−r)/k⌉ ≥ n
 *   (r = Q mod S; with r = 0 that is S ≥ n, the stripe p ↦ p mod S) or
 *   S ≥ 2n − 1; see `stripedWithGaps` and `stripedWithCopies` for the proofs.
 *   Zero is impossible when (k+1)·n > Q with r > 0 (a node owning k+1 cannot
 *   keep all its gaps ≥ n), e.g. Q = 64, S = 3, n = 3 (22·3 > 64). Otherwise a
 *   deadline-ordered layout plus swap repair; for equal weights and S ≥ n it
 *   measured at most n − 1 violating windows over Q = 8..4096 (bench/ring.ts
 *   prints the grid).
 *
 *   Weighted clusters: when n·(largest count) ≤ Q, 1972 random clusters
 *   (S ≤ 40, Q ≤ 1024, n ≤ 5, weights 0.25..8) gave zero violations in 93%
 *   and at most 2n − 2 otherwise; when n·(largest count) > Q some are forced.
 * - Leaves. The leaver's partitions sit between the same 2(n−1) neighbours
 *   all around a striped ring, so a minimal-move leave repeats nodes; the
 *   repair budget buys most of that back (zero violations for S ≥ 8 with
 *   n = 3 on Q ≤ 1024 in bench/ring.ts). For S ≤ 2(n−1) a clean ring needs
 *   close to a full re-stripe: `restripe` gives one (the fresh layout rotated
 *   and relabelled to keep the most partitions), at the cost of moving about
 *   (1 − 1/S) of them; an operator's choice, never the default.
 *
 * Invalid input throws RangeError (empty node list, duplicate or empty ids,
 * weights that are not positive finite numbers, qBits out of 1..12, n not a
 * positive integer, maxExtraMoves < 0); `nodesInvalid`, `optionsInvalid` and
 * ring.ts `qBitsInvalid` return the reason as a value instead.
 */
import type { NodeId, PartitionId } from './types.js';
import { compareNodeIds, makeRing, qBitsInvalid, withOwners, type Ring } from './ring.js';

// ---------------------------------------------------------------------------
// model

export interface NodeSpec {
  readonly id: NodeId;
  /** Relative capacity, a positive finite number; default 1. */
  readonly weight?: number;
}

export interface ClaimOptions {
  /** The replication factor the layout is tuned for (tail violations); default 3. */
  readonly n?: number;
  /** Moves beyond the forced minimum that `rebalance` may spend on removing tail violations. */
  readonly maxExtraMoves?: number;
}

export const DEFAULT_CLAIM_N = 3;

/**
 * The default repair budget: 4 moves, plus, when departed nodes owned c
 * partitions, ⌈c · min(1, 2(n−1)/S)⌉ for S remaining nodes. Why that much: a
 * leaver's partitions sit between the same 2(n−1) ring neighbours all around
 * a striped ring, so those neighbours cannot take them without repeating;
 * each of them still needs its ≈ c/S share, which costs one chained move
 * apiece (a far node takes the leaver's partition and hands one of its own
 * to the neighbour). A join places its partitions cleanly and needs only the
 * 4. bench/ring.ts shows the resulting moves and violations.
 */
export const defaultExtraMoves = (departedPartitions: number, remainingNodes: number, n: number = DEFAULT_CLAIM_N): number =>
  4 + (departedPartitions === 0 ? 0 : Math.ceil(departedPartitions * Math.min(1, (2 * (n - 1)) / Math.max(1, remainingNodes))));

// ---------------------------------------------------------------------------
// validation

/** Why `options` cannot be used, or null. */
export const optionsInvalid = (options: ClaimOptions): string | null => {
  const n = options.n ?? DEFAULT_CLAIM_N;
  if (!Number.isInteger(n) || n < 1) return 'n must be a positive integer';
  const m = options.maxExtraMoves;
  if (m !== undefined && !(m >= 0)) return 'maxExtraMoves must be ≥ 0';
  return null;
};

/** Why the node list cannot be claimed over, or null when it can. */
export const nodesInvalid = (nodes: readonly NodeSpec[]): string | null => {
  if (nodes.length === 0) return 'at least one node is needed';
  const seen = new Set<NodeId>();
  for (const x of nodes) {
    if (typeof x.id !== 'string' || x.id.length === 0) return 'node ids must be non-empty strings';
    if (seen.has(x.id)) return `duplicate node id ${x.id}`;
    seen.add(x.id);
    const w = x.weight ?? 1;
    if (typeof w !== 'number' || !Number.isFinite(w) || w <= 0) return `weight of ${x.id} must be a positive finite number`;
  }
  return null;
};

const check = (why: string | null): void => {
  if (why !== null) throw new RangeError(`claim: ${why}`);
};

const sortedSpecs = (nodes: readonly NodeSpec[]): readonly NodeSpec[] =>
  nodes.slice().sort((a, b) => compareNodeIds(a.id, b.id));

// ---------------------------------------------------------------------------
// quotas and targets

/** Each node's exact share Q·w/Σw (a real number). */
export const quotas = (q: number, nodes: readonly NodeSpec[]): ReadonlyMap<NodeId, number> => {
  check(nodesInvalid(nodes));
  const total = nodes.reduce((a, x) => a + (x.weight ?? 1), 0);
  return new Map(nodes.map((x) => [x.id, (q * (x.weight ?? 1)) / total]));
};

/**
 * How many partitions each node should own: ⌊quota⌋ or ⌈quota⌉, summing to Q.
 * The ⌈⌉s go first to nodes whose ⌊quota⌋ is 0 (so a node owns something
 * whenever its quota allows), then to nodes that already own at least ⌈quota⌉
 * (`current`, so fewer partitions move), then by larger fractional part, then
 * by id.
 */
export const targets = (
  q: number,
  nodes: readonly NodeSpec[],
  current: ReadonlyMap<NodeId, number> = new Map(),
): ReadonlyMap<NodeId, number> => {
  const sorted = sortedSpecs(nodes);
  const quota = quotas(q, sorted);
  const out = new Map<NodeId, number>();
  const fractional: { id: NodeId; floor: number; frac: number; cur: number }[] = [];
  let assigned = 0;
  for (const x of sorted) {
    const exact = quota.get(x.id)!;
    const near = Math.round(exact);
    // Float noise must not turn an exact share such as 3 into 2.9999999.
    if (Math.abs(exact - near) <= 1e-9 * q) {
      out.set(x.id, near);
      assigned += near;
    } else {
      const floor = Math.floor(exact);
      out.set(x.id, floor);
      assigned += floor;
      fractional.push({ id: x.id, floor, frac: exact - floor, cur: current.get(x.id) ?? 0 });
    }
  }
  fractional.sort(
    (a, b) =>
      Number(b.floor === 0) - Number(a.floor === 0) ||
      Number(b.cur > b.floor) - Number(a.cur > a.floor) ||
      b.frac - a.frac ||
      compareNodeIds(a.id, b.id),
  );
  for (let i = 0; assigned < q && i < fractional.length; i++, assigned++) {
    const f = fractional[i]!;
    out.set(f.id, f.floor + 1);
  }
  return out;
};

// ---------------------------------------------------------------------------
// helpers over an ownership array of node indices (-1 = nobody / must move)

const mod = (x: number, q: number): number => ((x % q) + q) % q;

/** Does the window of w partitions starting at s repeat an owner? */
const windowBad = (own: Int32Array, q: number, w: number, s: number): boolean => {
  for (let i = 0; i < w; i++) {
    const a = own[(s + i) % q]!;
    if (a < 0) continue;
    for (let j = i + 1; j < w; j++) if (own[(s + j) % q] === a) return true;
  }
  return false;
};

/** Would node r at position p sit within w−1 of another position of r? Counts such neighbours. */
const conflictsAt = (own: Int32Array, q: number, w: number, p: number, r: number): number => {
  let c = 0;
  for (let d = 1; d < w; d++) {
    const a = (p + d) % q;
    const b = mod(p - d, q);
    if (a !== p && own[a] === r) c++;
    if (b !== p && b !== a && own[b] === r) c++;
  }
  return c;
};

/** Cyclic distance from p to the nearest other position owned by r (q when none). */
const nearest = (own: Int32Array, q: number, p: number, r: number): number => {
  const half = q >> 1;
  for (let d = 1; d <= half; d++) {
    if (own[(p + d) % q] === r || own[mod(p - d, q)] === r) return d;
  }
  return q;
};

/** For every position, the cyclic distance to the nearest position owned by r (0 on r's own; q when r owns none). */
const distances = (own: Int32Array, q: number, r: number): Int32Array => {
  const dist = new Int32Array(q).fill(q);
  let last = -1;
  for (let i = 0; i < 2 * q; i++) {
    const p = i % q;
    if (own[p] === r) last = i;
    if (last >= 0) dist[p] = Math.min(dist[p]!, i - last);
  }
  last = -1;
  for (let i = 2 * q - 1; i >= 0; i--) {
    const p = i % q;
    if (own[p] === r) last = i;
    if (last >= 0) dist[p] = Math.min(dist[p]!, last - i);
  }
  return dist;
};

/** Change in the violation count if positions a and b swap owners. */
const swapDelta = (own: Int32Array, q: number, w: number, a: number, b: number, starts: number[]): number => {
  starts.length = 0;
  const apart = Math.min(mod(a - b, q), mod(b - a, q)) >= w; // the two sets of windows are disjoint
  for (let i = 0; i < w; i++) {
    const s1 = mod(a - i, q);
    if (apart || !starts.includes(s1)) starts.push(s1);
    const s2 = mod(b - i, q);
    if (apart || !starts.includes(s2)) starts.push(s2);
  }
  let before = 0;
  for (const s of starts) if (windowBad(own, q, w, s)) before++;
  const t = own[a]!;
  own[a] = own[b]!;
  own[b] = t;
  let after = 0;
  for (const s of starts) if (windowBad(own, q, w, s)) after++;
  own[b] = own[a]!;
  own[a] = t;
  return after - before;
};

/**
 * Swap repair: walks the ring from a cursor; at each position whose owner
 * repeats nearby it applies the swap with another position that most lowers
 * the tail-violation count per extra move (moves counted against `prev` when
 * given), and goes on from there. It stops after a full lap without an
 * improving swap (a local optimum) or when the move budget is spent. Swaps
 * keep every node's count, so balance is untouched. Returns the extra moves
 * spent. Cost per lap: (positions in violation) × Q cheap checks.
 */
const repair = (own: Int32Array, q: number, n: number, distinct: number, prev: Int32Array | null, budget: number): number => {
  // First only swaps that put neither owner next to a copy of itself (cheap
  // to filter, and each one fixes violations outright); then any net-improving
  // swap, which untangles dense rings (S close to n), within a work cap so a
  // 4096-partition ring stays fast.
  const spent = repairPass(own, q, n, distinct, prev, budget, true, REPAIR_WORK_CAP);
  return spent + repairPass(own, q, n, distinct, prev, budget - spent, false, REPAIR_WORK_CAP);
};

/**
 * Work units one repair pass may spend (a candidate looked at = 1, a swap
 * evaluated = 16): bounds a pass to roughly a tenth of a second on a
 * 4096-partition ring, and, being a count rather than a clock, keeps the
 * result a function of the inputs.
 */
const REPAIR_WORK_CAP = 1 << 21;

const repairPass = (
  own: Int32Array,
  q: number,
  n: number,
  distinct: number,
  prev: Int32Array | null,
  budget: number,
  strict: boolean,
  workCap: number,
): number => {
  const w = Math.min(n, q);
  if (w < 2 || distinct < w) return 0; // fewer nodes than a window: nothing a swap can fix
  let work = 0;
  const starts: number[] = [];
  const moved = (p: number, owner: number): number => (prev !== null && prev[p] !== owner ? 1 : 0);
  let spent = 0;
  let nodes = 0;
  for (const o of own) nodes = Math.max(nodes, o + 1);
  const nearA = new Uint8Array(nodes); // owners within w−1 of a
  const distCache: (Int32Array | undefined)[] = new Array(nodes); // per owner, until it swaps
  let idle = 0; // positions visited since the last improvement
  for (let a = 0; idle < q && work < workCap; a = (a + 1) % q, idle++) {
    const oa = own[a]!;
    if (conflictsAt(own, q, w, a, oa) === 0) continue;
    let bestB = -1;
    let bestScore = 0;
    let bestCost = 0;
    // The strict filter in O(1) per candidate: owners around a, and each
    // position's distance to oa's nearest copy.
    let distOa: Int32Array | null = null;
    if (strict) {
      nearA.fill(0);
      for (let d = 1; d < w; d++) {
        nearA[own[(a + d) % q]!] = 1;
        nearA[own[mod(a - d, q)]!] = 1;
      }
      distOa = distCache[oa] ?? (distCache[oa] = distances(own, q, oa));
    }
    for (let b = 0; b < q; b++) {
      const ob = own[b]!;
      work++;
      if (ob === oa) continue;
      if (distOa !== null && (nearA[ob] === 1 || distOa[b]! < w)) continue;
      const cost = moved(a, ob) + moved(b, oa) - moved(a, oa) - moved(b, ob);
      if (cost > budget - spent) continue;
      work += 16;
      const dv = swapDelta(own, q, w, a, b, starts);
      if (dv >= 0) continue;
      const score = -dv / (Math.max(cost, 0) + 1);
      if (score > bestScore || (score === bestScore && cost < bestCost)) {
        bestScore = score;
        bestCost = cost;
        bestB = b;
      }
    }
    if (bestB < 0) continue;
    const ob = own[bestB]!;
    own[a] = ob;
    own[bestB] = oa;
    distCache[oa] = undefined;
    distCache[ob] = undefined;
    spent += bestCost;
    idle = 0;
  }
  return spent;
};

/**
 * The initial layout for counts c_i: at each position, among nodes that would
 * not repeat within n (also across the wrap), the one whose next ideal slot
 * ((used + ½)·Q/c_i) comes first. Equal counts with Q mod S = 0 give the
 * stripe p ↦ p mod S; other counts spread each node's extra partition around
 * the ring instead of bunching the remainder at the end.
 */
const schedule = (counts: readonly number[], q: number, n: number): Int32Array => {
  const s = counts.length;
  const own = new Int32Array(q).fill(-1);
  const used = new Int32Array(s);
  const last = new Int32Array(s).fill(-1);
  const first = new Int32Array(s).fill(-1);
  const w = Math.min(n, q);
  for (let p = 0; p < q; p++) {
    let best = -1;
    let bestOk = false;
    let bestDeadline = Infinity;
    for (let i = 0; i < s; i++) {
      const c = counts[i]!;
      if (used[i]! >= c) continue;
      const ok = (last[i]! < 0 || p - last[i]! >= w) && (first[i]! < 0 || first[i]! + q - p >= w);
      const deadline = ((used[i]! + 0.5) * q) / c;
      if ((ok && !bestOk) || (ok === bestOk && deadline < bestDeadline)) {
        best = i;
        bestOk = ok;
        bestDeadline = deadline;
      }
    }
    own[p] = best;
    used[best]!++;
    if (first[best]! < 0) first[best] = p;
    last[best] = p;
  }
  return own;
};

/**
 * The provably clean layout for counts k or k+1 (e.g. equal weights), by
 * leaving nodes out of rounds. With r of the S nodes owning k+1, lay k+1
 * rounds of the nodes in id order; the D = S − r nodes that own only k are
 * each left out of one round. Round 0 stays full, and rounds 1..k leave out
 * at most ⌈D/k⌉ nodes each, in increasing id order from round to round. Then
 * for a node x in rounds j and j+1 the gap is
 *   S − |left out of j at or after x| − |left out of j+1 before x|,
 * and since every id left out of round j is below every id left out of round
 * j+1, at most one of the two terms is non-zero: gap ≥ S − ⌈D/k⌉. Across the
 * wrap (round k → round 0) round 0 leaves nothing out. So: zero tail
 * violations whenever S − ⌈D/k⌉ ≥ n (r = 0 is the plain stripe, gap S ≥ n).
 * Returns null when the counts do not have that shape or the bound fails.
 */
const stripedWithGaps = (counts: readonly number[], q: number, n: number): Int32Array | null => {
  const members = counts.flatMap((c, i) => (c > 0 ? [i] : []));
  const s = members.length;
  const k = Math.min(...members.map((i) => counts[i]!));
  if (members.some((i) => counts[i]! > k + 1)) return null;
  const rest = members.filter((i) => counts[i] === k);
  const r = s - rest.length;
  const own = new Int32Array(q);
  let p = 0;
  if (r === 0) {
    if (s < Math.min(n, q)) return null;
    for (let j = 0; j < k; j++) for (const i of members) own[p++] = i;
    return p === q ? own : null;
  }
  const d = rest.length;
  if (s - Math.ceil(d / k) < Math.min(n, q)) return null;
  const leftOut = new Int32Array(counts.length).fill(-1);
  for (let j = 1; j <= k; j++) {
    for (let m = Math.floor(((j - 1) * d) / k); m < Math.floor((j * d) / k); m++) leftOut[rest[m]!] = j;
  }
  for (let j = 0; j <= k; j++) for (const i of members) if (leftOut[i] !== j) own[p++] = i;
  return p === q ? own : null;
};

/**
 * The provably clean layout when every count is k or k+1 (k ≥ 1), e.g. equal
 * weights with Q ≥ S. Lay k rounds of the nodes in id order; the r = Q − kS
 * nodes that own k+1 get one extra copy each, the copies spread evenly over
 * the rounds. Node i's copy goes n slots after its own slot (when i ≤ S−n) or
 * n−1 slots before it (otherwise), so:
 *   original → copy ≥ n, and copy → the node in the next (or previous) round
 *   ≥ (S + m) − n − (m − 1) = S − n + 1 ≥ n when S ≥ 2n − 1,
 * where m is the number of copies in that round; other gaps only grow.
 * Hence zero tail violations when S ≥ 2n − 1, and when r = 0 and S ≥ n (the
 * plain stripe). Returns null when the counts do not have that shape or the
 * bound does not hold (the caller falls back to `schedule`).
 */
const stripedWithCopies = (counts: readonly number[], q: number, n: number): Int32Array | null => {
  const s = counts.length;
  const k = Math.min(...counts);
  if (k < 1 || counts.some((c) => c > k + 1)) return null;
  const extras = counts.flatMap((c, i) => (c === k + 1 ? [i] : []));
  if (extras.length > 0 ? s < 2 * n - 1 : s < n) return null;
  // insert[j][t] lists the copies placed just before slot t of round j (t = s: at its end).
  const insert: number[][][] = Array.from({ length: k }, () => Array.from({ length: s + 1 }, () => []));
  extras.forEach((i, m) => {
    const round = Math.floor((m * k) / extras.length);
    const slot = i <= s - n ? i + n : i - n + 1;
    insert[round]![slot]!.push(i);
  });
  const own = new Int32Array(q);
  let p = 0;
  for (let j = 0; j < k; j++) {
    for (let t = 0; t <= s; t++) {
      for (const c of insert[j]![t]!) own[p++] = c;
      if (t < s) own[p++] = t;
    }
  }
  return p === q ? own : null;
};

// ---------------------------------------------------------------------------
// constructors

/** The initial ring for `nodes`: balanced, striped, version 1. */
export const claimInitial = (qBits: number, nodes: readonly NodeSpec[], options: ClaimOptions = {}): Ring => {
  check(qBitsInvalid(qBits));
  check(nodesInvalid(nodes));
  check(optionsInvalid(options));
  const q = 2 ** qBits;
  const sorted = sortedSpecs(nodes);
  const own = cleanLayout(q, sorted.map((x) => targets(q, sorted).get(x.id)!), options.n ?? DEFAULT_CLAIM_N);
  return makeRing(Array.from(own, (i) => sorted[i]!.id), 1);
};

/** The initial layout over node indices for the given counts (summing to q). */
const cleanLayout = (q: number, counts: readonly number[], n: number): Int32Array => {
  const own = stripedWithGaps(counts, q, n) ?? stripedWithCopies(counts, q, n) ?? schedule(counts, q, n);
  repair(own, q, n, counts.filter((c) => c > 0).length, null, Infinity);
  return own;
};

/** What `rebalance` did, for stats and tests. */
export interface RebalanceReport {
  readonly ring: Ring;
  /** Partitions whose owner changed. */
  readonly moves: number;
  /** The moves balance forced: the leavers' partitions plus every surplus over target. */
  readonly forcedMoves: number;
  /** Moves spent by the repair pass on removing tail violations (≤ maxExtraMoves). */
  readonly extraMoves: number;
}

/**
 * Rebalances `ring` onto `nodes` (join, leave, weight change, or any mix):
 * keeps every partition where it is unless balance forces it to move, places
 * moved partitions so they create no tail violation where possible, then
 * repairs violations within the extra-move budget.
 */
export const rebalanceReport = (ring: Ring, nodes: readonly NodeSpec[], options: ClaimOptions = {}): RebalanceReport => {
  check(nodesInvalid(nodes));
  check(optionsInvalid(options));
  const n = options.n ?? DEFAULT_CLAIM_N;
  const q = ring.partitionCount;
  let departed = 0;
  for (const o of ring.owners) if (!nodes.some((x) => x.id === o)) departed++;
  const budget = options.maxExtraMoves ?? defaultExtraMoves(departed, nodes.length, n);
  const w = Math.min(n, q);
  const sorted = sortedSpecs(nodes);
  const s = sorted.length;
  const index = new Map<NodeId, number>(sorted.map((x, i) => [x.id, i]));
  const prev = Int32Array.from(ring.owners, (o) => index.get(o) ?? -1);
  const own = prev.slice();
  const cur = new Int32Array(s);
  for (const i of prev) if (i >= 0) cur[i]!++;
  const tgt = targets(
    q,
    sorted,
    new Map(sorted.map((x, i) => [x.id, cur[i]!])),
  );
  const deficit = Int32Array.from(sorted, (x, i) => Math.max(0, tgt.get(x.id)! - cur[i]!));
  const surplus = Int32Array.from(sorted, (x, i) => Math.max(0, cur[i]! - tgt.get(x.id)!));
  let forced = 0;
  for (const i of prev) if (i < 0) forced++;
  for (const x of surplus) forced += x;

  // Phase A: every partition of a departed node goes to a node under target,
  // the one that repeats least nearby and then sits farthest from its own.
  for (let p = 0; p < q; p++) {
    if (own[p]! >= 0) continue;
    let best = -1;
    let bestScore = -Infinity;
    const scale = q + 1;
    for (let r = 0; r < s; r++) {
      if (deficit[r]! <= 0) continue;
      const score = (-conflictsAt(own, q, w, p, r) * scale + nearest(own, q, p, r)) * scale + deficit[r]!;
      if (score > bestScore) {
        best = r;
        bestScore = score;
      }
    }
    own[p] = best;
    deficit[best]!--;
  }

  // Phase B: nodes still under target take partitions from nodes over it.
  // A node that owns nothing yet takes an evenly spaced lattice; one that owns
  // some takes the free partition farthest from its own, one at a time.
  const receivers = Array.from({ length: s }, (_, i) => i)
    .filter((i) => deficit[i]! > 0)
    .sort((a, b) => Number(cur[b] === 0) - Number(cur[a] === 0) || deficit[b]! - deficit[a]! || a - b);
  const available = (p: number): boolean => {
    const o = own[p]!;
    return o >= 0 && surplus[o]! > 0;
  };
  const take = (p: number, r: number): void => {
    surplus[own[p]!]!--;
    own[p] = r;
    deficit[r]!--;
  };
  for (const r of receivers) {
    const d = deficit[r]!;
    if (d <= 0) continue;
    let owned = false;
    for (let p = 0; p < q && !owned; p++) owned = own[p] === r;
    if (!owned) {
      for (let j = 0; j < d; j++) take(latticePick(own, q, w, Math.floor((j * q) / d), r, Math.max(1, Math.floor(q / d / 4)), available), r);
    } else {
      const dist = distances(own, q, r);
      for (let j = 0; j < d; j++) {
        // Farthest free partition from r's own; among those at ≥ w, prefer
        // one whose owner repeats nearby, then farther, then the richer donor.
        let best = -1;
        let bestScore = -1;
        const s1 = q + 1;
        const s3 = s1 * s1 * s1;
        for (let p = 0; p < q; p++) {
          if (!available(p)) continue;
          const far = Math.min(dist[p]!, w);
          if ((far * 2 + 2) * s3 <= bestScore) continue; // cannot beat the best even with the lower terms
          const o = own[p]!;
          const score = (far * 2 + (conflictsAt(own, q, w, p, o) > 0 ? 1 : 0)) * s3 + dist[p]! * s1 * s1 + surplus[o]! * s1;
          if (score > bestScore) {
            best = p;
            bestScore = score;
          }
        }
        take(best, r);
        dist[best] = 0;
        for (let k = 1; k < q; k++) {
          const right = (best + k) % q;
          const left = mod(best - k, q);
          const moreRight = dist[right]! > k;
          const moreLeft = dist[left]! > k;
          if (!moreRight && !moreLeft) break;
          if (moreRight) dist[right] = k;
          if (moreLeft) dist[left] = k;
        }
      }
    }
  }

  const distinct = sorted.filter((x) => tgt.get(x.id)! > 0).length;
  repair(own, q, n, distinct, prev, budget);
  let moves = 0;
  for (let p = 0; p < q; p++) if (own[p] !== prev[p]) moves++;
  const next = withOwners(
    ring,
    Array.from(own, (i) => sorted[i]!.id),
  );
  return { ring: next, moves, forcedMoves: forced, extraMoves: moves - forced };
};

/** `rebalanceReport(...).ring`. */
export const rebalance = (ring: Ring, nodes: readonly NodeSpec[], options: ClaimOptions = {}): Ring =>
  rebalanceReport(ring, nodes, options).ring;

/**
 * The initial layout for `nodes` (as `claimInitial` builds it, so with as few
 * tail violations as it can reach), rotated around the ring and with nodes of
 * equal target swapped for one another so that as many partitions as
 * possible stay where they are. Rotation and relabelling keep both the
 * violation count and every node's count, so the result is exactly as clean
 * and as balanced as a fresh claim. For the small clusters where a
 * minimal-move `rebalance` must leave many violations (S ≤ 2(n−1)); it moves
 * most partitions, so it is an operator's explicit choice, never a default.
 * Cost: O(Q·(Q + S² log S)).
 */
export const restripeReport = (ring: Ring, nodes: readonly NodeSpec[], options: ClaimOptions = {}): RebalanceReport => {
  check(nodesInvalid(nodes));
  check(optionsInvalid(options));
  const q = ring.partitionCount;
  const sorted = sortedSpecs(nodes);
  const s = sorted.length;
  const index = new Map<NodeId, number>(sorted.map((x, i) => [x.id, i]));
  const prev = Int32Array.from(ring.owners, (o) => index.get(o) ?? -1);
  const cur = new Map<NodeId, number>();
  for (const o of ring.owners) cur.set(o, (cur.get(o) ?? 0) + 1);
  const tgt = targets(q, sorted, cur);
  const counts = sorted.map((x) => tgt.get(x.id)!);
  const fresh = cleanLayout(q, counts, options.n ?? DEFAULT_CLAIM_N);
  // For every rotation, match layout slots to nodes of the same count by the
  // partitions they would keep (greedy on the agreement matrix, and never
  // worse than the identity), then keep the best rotation.
  let bestKept = -1;
  let bestRotation = 0;
  let bestLabel = Int32Array.from({ length: s }, (_, i) => i);
  const agree = new Int32Array(s * s);
  const pairs: number[] = [];
  for (let r = 0; r < q; r++) {
    agree.fill(0);
    for (let p = 0; p < q; p++) {
      const j = prev[p]!;
      if (j >= 0) agree[fresh[(p + r) % q]! * s + j]!++;
    }
    let identity = 0;
    for (let i = 0; i < s; i++) identity += agree[i * s + i]!;
    pairs.length = 0;
    for (let k = 0; k < s * s; k++) {
      if (agree[k]! > 0 && counts[Math.floor(k / s)] === counts[k % s]) pairs.push(k);
    }
    pairs.sort((a, b) => agree[b]! - agree[a]! || a - b);
    const label = new Int32Array(s).fill(-1);
    const taken = new Uint8Array(s);
    let kept = 0;
    for (const k of pairs) {
      const i = Math.floor(k / s);
      const j = k % s;
      if (label[i]! >= 0 || taken[j] === 1) continue;
      label[i] = j;
      taken[j] = 1;
      kept += agree[k]!;
    }
    // Slots left unmatched take the unmatched nodes of the same count, in order.
    for (let i = 0; i < s; i++) {
      if (label[i]! >= 0) continue;
      for (let j = 0; j < s; j++) {
        if (taken[j] === 0 && counts[j] === counts[i]) {
          label[i] = j;
          taken[j] = 1;
          break;
        }
      }
    }
    const useIdentity = identity >= kept;
    const score = useIdentity ? identity : kept;
    if (score > bestKept) {
      bestKept = score;
      bestRotation = r;
      bestLabel = useIdentity ? Int32Array.from({ length: s }, (_, i) => i) : label;
    }
  }
  const own = Int32Array.from({ length: q }, (_, p) => bestLabel[fresh[(p + bestRotation) % q]!]!);
  let moves = 0;
  for (let p = 0; p < q; p++) if (own[p] !== prev[p]) moves++;
  let forced = 0;
  for (const x of sorted) forced += Math.max(0, (cur.get(x.id) ?? 0) - tgt.get(x.id)!);
  for (const o of prev) if (o < 0) forced++;
  const next = withOwners(
    ring,
    Array.from(own, (i) => sorted[i]!.id),
  );
  return { ring: next, moves, forcedMoves: forced, extraMoves: moves - forced };
};

/** `restripeReport(...).ring`. */
export const restripe = (ring: Ring, nodes: readonly NodeSpec[], options: ClaimOptions = {}): Ring =>
  restripeReport(ring, nodes, options).ring;

/**
 * One entry point: the initial ring when there is no previous one, otherwise
 * a rebalance of the previous ring onto `nodes`.
 */
export const claim = (qBits: number, nodes: readonly NodeSpec[], previous?: Ring, options: ClaimOptions = {}): Ring => {
  if (previous === undefined) return claimInitial(qBits, nodes, options);
  if (previous.qBits !== qBits) throw new RangeError('claim: changing the partition count is not supported');
  return rebalance(previous, nodes, options);
};

/** Partitions whose owner differs between two rings of the same size. */
export const movedPartitions = (a: Ring, b: Ring): readonly PartitionId[] => {
  if (a.partitionCount !== b.partitionCount) throw new RangeError('claim: rings differ in size');
  const out: PartitionId[] = [];
  for (let p = 0; p < a.partitionCount; p++) if (a.owners[p] !== b.owners[p]) out.push(p);
  return out;
};

// ---------------------------------------------------------------------------
// internals used above


/**
 * Picks a position for fresh node r near `ideal`: within `radius`, prefer a
 * free position that would not repeat r and whose current owner repeats
 * nearby (taking it removes a violation), else the nearest that would not
 * repeat r; failing that anywhere on the ring, the nearest free position with
 * the fewest repeats.
 */
const latticePick = (
  own: Int32Array,
  q: number,
  w: number,
  ideal: number,
  r: number,
  radius: number,
  available: (p: number) => boolean,
): number => {
  let nearestClean = -1;
  let fallback = -1;
  let fallbackConflicts = Infinity;
  const half = q >> 1;
  for (let d = 0; d <= half; d++) {
    for (const p of d === 0 ? [ideal] : [(ideal + d) % q, mod(ideal - d, q)]) {
      if (!available(p)) continue;
      const c = conflictsAt(own, q, w, p, r);
      if (c === 0) {
        if (d <= radius && conflictsAt(own, q, w, p, own[p]!) > 0) return p;
        if (nearestClean < 0) nearestClean = p;
      } else if (c < fallbackConflicts) {
        fallback = p;
        fallbackConflicts = c;
      }
    }
    if (nearestClean >= 0 && d >= radius) return nearestClean;
  }
  return nearestClean >= 0 ? nearestClean : fallback;
};
