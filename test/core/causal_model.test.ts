/**
 * DVVSet against exact causal histories.
 *
 * The model gives every write a unique event id and remembers the set of
 * events its context saw. A replica's history is a set of events; a value is
 * live at a replica iff no write in that replica's history saw it. Random
 * interleavings of clients (reading any subset of replicas, writing through
 * any coordinator, with or without a context) and replica syncs are run
 * against both the model and the real clocks, compared after every step.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as D from '../../src/core/dvvset.js';
import { check } from '../helpers/seed.js';

// Deliberately not in sorted order, and with ids whose string order differs from numeric order.
const REPLICAS = ['r2', 'r10', 'r1', 'x'] as const;

interface ModelReplica {
  clock: D.Clock<number>;
  history: Set<number>;
}

interface World {
  readonly replicas: ModelReplica[];
  /** The context each event's write carried (the events it saw). */
  readonly saw: Map<number, ReadonlySet<number>>;
  /** The dot each event got from its coordinator. */
  readonly dotOf: Map<number, D.Dot>;
  /** Every clock any replica or read ever held: clocks of one history, for the sync laws. */
  readonly pool: D.Clock<number>[];
  nextEvent: number;
}

const newWorld = (): World => ({
  replicas: REPLICAS.map(() => ({ clock: D.empty, history: new Set<number>() })),
  saw: new Map(),
  dotOf: new Map(),
  pool: [],
  nextEvent: 1,
});

/** Live events of a history: those no write in the history saw. */
const liveOf = (w: World, history: ReadonlySet<number>): Set<number> => {
  const covered = new Set<number>();
  for (const e of history) for (const s of w.saw.get(e) ?? []) covered.add(s);
  return new Set([...history].filter((e) => !covered.has(e)));
};

const sorted = (xs: Iterable<number>): number[] => [...xs].sort((a, b) => a - b);

/** The clock agrees with the model history: same live values, same set of dots seen. */
const assertAgrees = (w: World, clock: D.Clock<number>, history: ReadonlySet<number>, where: string): void => {
  assert.is(D.invalid(clock), null, `${where}: clock well formed`);
  const vals = D.values(clock);
  assert.is(new Set(vals).size, vals.length, `${where}: no value twice`);
  assert.equal(sorted(vals), sorted(liveOf(w, history)), `${where}: live values`);
  for (const e of w.dotOf.keys()) {
    assert.is(D.covers(clock, w.dotOf.get(e)!), history.has(e), `${where}: history includes event ${e}`);
  }
  // Each live value carries the dot its coordinator gave it.
  for (const { dot, value } of D.dotted(clock)) assert.equal(dot, w.dotOf.get(value), `${where}: dot of ${value}`);
};

interface Client {
  context: D.Context;
  saw: Set<number>;
}

type Step = readonly [kind: number, a: number, b: number, c: number];

const step = fc.tuple(fc.nat(99), fc.nat(1000), fc.nat(1000), fc.nat(1000));

/** A non-empty subset of replicas chosen by the bits of `mask`, always including `must` when given. */
const subset = (mask: number, must?: number): number[] => {
  const out = REPLICAS.map((_, i) => i).filter((i) => (mask >> i) & 1 || i === must);
  return out.length > 0 ? out : [mask % REPLICAS.length];
};

const read = (w: World, client: Client, from: readonly number[]): D.Clock<number> => {
  const merged = D.syncAll(from.map((i) => w.replicas[i]!.clock));
  const history = new Set<number>();
  for (const i of from) for (const e of w.replicas[i]!.history) history.add(e);
  assertAgrees(w, merged, history, 'read merge');
  w.pool.push(merged);
  client.context = D.join(merged);
  client.saw = history;
  return merged;
};

const write = (w: World, client: Client, coord: number, blind: boolean): number => {
  const e = w.nextEvent++;
  const r = w.replicas[coord]!;
  const saw = blind ? new Set<number>() : client.saw;
  const pending = blind ? D.newValue(e) : D.newWithContext(client.context, e);
  r.clock = D.update(pending, REPLICAS[coord]!, r.clock);
  w.saw.set(e, saw);
  const entry = r.clock.find((x) => x.id === REPLICAS[coord])!;
  w.dotOf.set(e, { id: REPLICAS[coord]!, counter: entry.counter });
  for (const s of saw) r.history.add(s);
  r.history.add(e);
  w.pool.push(r.clock);
  return e;
};

const syncInto = (w: World, from: number, to: number): void => {
  const a = w.replicas[from]!;
  const b = w.replicas[to]!;
  b.clock = D.sync(b.clock, a.clock);
  for (const e of a.history) b.history.add(e);
  w.pool.push(b.clock);
};

/** Every replica gets everything (anti-entropy to completion). */
const fullSync = (w: World): D.Clock<number> => {
  const merged = D.syncAll(w.replicas.map((r) => r.clock));
  const history = new Set<number>();
  for (const r of w.replicas) for (const e of r.history) history.add(e);
  for (const r of w.replicas) {
    r.clock = D.sync(r.clock, merged);
    r.history = new Set(history);
  }
  return merged;
};

const runGeneral = (steps: readonly Step[], clientCount: number): World => {
  const w = newWorld();
  const clients: Client[] = Array.from({ length: clientCount }, () => ({ context: D.emptyContext, saw: new Set<number>() }));
  for (const [kind, a, b, c] of steps) {
    const client = clients[a % clientCount]!;
    // Reads mostly from one replica (stale contexts are where bugs hide); a
    // third of the writes are blind, to pile up siblings of one id.
    if (kind < 25) read(w, client, b % 3 === 0 ? subset(b % 16) : [c % REPLICAS.length]);
    else if (kind < 75) write(w, client, b % REPLICAS.length, kind < 42);
    else syncInto(w, b % REPLICAS.length, c % REPLICAS.length);
    w.replicas.forEach((r, i) => assertAgrees(w, r.clock, r.history, `replica ${REPLICAS[i]}`));
  }
  return w;
};

test('every replica matches the exact causal model after every step (reads, blind and contextual writes, syncs)', () => {
  check(
    fc.property(fc.array(step, { maxLength: 60, size: 'max' }), fc.integer({ min: 1, max: 4 }), (steps, clients) => {
      runGeneral(steps, clients);
    }),
    150,
  );
});

test('after full sync: zero lost writes and zero resurrected overwritten values, and all replicas converge', () => {
  check(
    fc.property(fc.array(step, { maxLength: 60, size: 'max' }), fc.integer({ min: 1, max: 4 }), (steps, clients) => {
      const w = runGeneral(steps, clients);
      const merged = fullSync(w);
      const all = new Set(w.saw.keys());
      const overwritten = new Set<number>();
      for (const s of w.saw.values()) for (const e of s) overwritten.add(e);
      const present = new Set(D.values(merged));
      const lost = [...all].filter((e) => !overwritten.has(e) && !present.has(e));
      const resurrected = [...present].filter((e) => overwritten.has(e));
      assert.equal(lost, [], 'lost writes');
      assert.equal(resurrected, [], 'resurrected values');
      for (const r of w.replicas) assert.ok(D.equals(r.clock, merged), 'replica converged');
      // Tombstones are plain values: say every third event is a delete.
      const live = [...all].filter((e) => !overwritten.has(e));
      const isTombstone = (e: number): boolean => e % 3 === 0;
      assert.is(D.isDeleted(merged, isTombstone), live.length > 0 && live.every(isTombstone), 'deleted iff every live write is a delete');
    }),
    150,
  );
});

test('sync is commutative, associative and idempotent on clocks of one history', () => {
  check(
    fc.property(fc.array(step, { minLength: 1, maxLength: 40, size: 'max' }), fc.nat(), fc.nat(), fc.nat(), (steps, i, j, k) => {
      const w = runGeneral(steps, 3);
      if (w.pool.length === 0) return;
      const a = w.pool[i % w.pool.length]!;
      const b = w.pool[j % w.pool.length]!;
      const c = w.pool[k % w.pool.length]!;
      assert.ok(D.equals(D.sync(a, b), D.sync(b, a)), 'commutative');
      assert.ok(D.equals(D.sync(a, D.sync(b, c)), D.sync(D.sync(a, b), c)), 'associative');
      assert.ok(D.equals(D.sync(a, a), a), 'idempotent');
      const ab = D.sync(a, b);
      assert.ok(D.descends(ab, a) && D.descends(ab, b), 'sync is an upper bound');
      // When one side has seen everything the other has, sync returns it unchanged.
      if (D.descends(a, b)) assert.ok(D.equals(ab, a), 'sync with an ancestor is a no-op');
    }),
    200,
  );
});

test('with k read-modify-write clients (reads see their own last write) siblings stay <= k', () => {
  check(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.array(fc.tuple(fc.nat(99), fc.nat(1000), fc.nat(1000), fc.nat(1000)), { maxLength: 80, size: 'max' }),
      (k, steps) => {
        const w = newWorld();
        const clients: Client[] = Array.from({ length: k }, () => ({ context: D.emptyContext, saw: new Set<number>() }));
        const lastCoord: (number | undefined)[] = clients.map(() => undefined);
        for (const [kind, a, b, c] of steps) {
          const ci = a % k;
          if (kind < 60) {
            // A read quorum intersects the client's last write quorum (R + W > N).
            const merged = read(w, clients[ci]!, subset(b % 16, lastCoord[ci]));
            assert.ok(D.size(merged) <= k, 'read siblings <= k');
            const coord = c % REPLICAS.length;
            write(w, clients[ci]!, coord, false);
            lastCoord[ci] = coord;
          } else {
            syncInto(w, b % REPLICAS.length, c % REPLICAS.length);
          }
          for (const r of w.replicas) assert.ok(D.size(r.clock) <= k, `siblings ${D.size(r.clock)} <= ${k}`);
        }
        assert.ok(D.size(fullSync(w)) <= k);
      },
    ),
    150,
  );
});

test('an lww namespace (every stored version collapsed) converges to one value on every replica, whatever the sync order', () => {
  const pick = (x: number, y: number): number => (y > x ? y : x);
  const collapse = (c: D.Clock<number>): D.Clock<number> => D.lww(c, pick);
  check(
    fc.property(fc.array(step, { maxLength: 60, size: 'max' }), fc.nat(), fc.nat(), (steps, i, j) => {
      const clocks: D.Clock<number>[] = REPLICAS.map(() => D.empty);
      const pool: D.Clock<number>[] = [];
      let context: D.Context = D.emptyContext;
      let next = 1;
      for (const [kind, a, b] of steps) {
        const r = a % REPLICAS.length;
        if (kind < 25) context = D.join(clocks[r]!);
        else if (kind < 75) {
          const w = kind < 42 ? D.newValue(next++) : D.newWithContext(context, next++);
          clocks[r] = collapse(D.update(w, REPLICAS[r]!, clocks[r]!));
        } else clocks[r] = collapse(D.sync(clocks[r]!, clocks[b % REPLICAS.length]!));
        assert.ok(D.size(clocks[r]!) <= 1);
        pool.push(clocks[r]!);
      }
      if (pool.length > 0) {
        const x = pool[i % pool.length]!;
        const y = pool[j % pool.length]!;
        assert.ok(D.equals(collapse(D.sync(x, y)), collapse(D.sync(y, x))), 'collapsed sync commutes');
      }
      const merged = collapse(D.syncAll(clocks));
      const forward = clocks.reduce((acc, c) => collapse(D.sync(acc, c)), D.empty as D.Clock<number>);
      const backward = clocks.reduceRight((acc, c) => collapse(D.sync(acc, c)), D.empty as D.Clock<number>);
      assert.ok(D.equals(merged, forward) && D.equals(merged, backward), 'same value whatever the order');
      assert.is(D.size(merged), next > 1 ? 1 : 0);
    }),
    150,
  );
});

test('clock entries stay bounded by the number of coordinating replica ids', () => {
  check(
    fc.property(fc.array(step, { maxLength: 60, size: 'max' }), (steps) => {
      const w = runGeneral(steps, 4);
      for (const c of w.pool) assert.ok(c.length <= REPLICAS.length);
    }),
    50,
  );
});

test.run();
