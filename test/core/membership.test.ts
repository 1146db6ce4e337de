import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import * as O from 'fp-ts/lib/Option.js';
import * as M from '../../src/core/membership.js';
import type { Random } from '../../src/core/types.js';
import { check } from '../helpers/seed.js';

/** A small seeded generator (mulberry32) standing in for the shell's Random. */
const seeded = (seed: number): Random => {
  let s = seed >>> 0;
  return {
    next: () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    },
  };
};

const entryArb: fc.Arbitrary<M.Entry> = fc.record({
  id: fc.constantFrom('a', 'b', 'c', 'd'),
  address: fc.constantFrom('h1:1', 'h2:2'),
  status: fc.constantFrom(...M.statuses),
  incarnation: fc.integer({ min: 0, max: 3 }),
  heartbeat: fc.integer({ min: 0, max: 6 }),
  claimVersion: fc.integer({ min: 0, max: 2 }),
  weight: fc.constantFrom(1, 2),
});
const viewArb = fc.array(entryArb, { maxLength: 8 }).map(M.fromEntries);

const eqView = (a: M.View, b: M.View, msg?: string): void => {
  if (!M.equals(a, b)) assert.equal([...a.values()], [...b.values()], msg);
};

test('law: merge is commutative', () => {
  check(fc.property(viewArb, viewArb, (a, b) => eqView(M.merge(a, b), M.merge(b, a))), 300);
});

test('law: merge is associative', () => {
  check(
    fc.property(viewArb, viewArb, viewArb, (a, b, c) => eqView(M.merge(a, M.merge(b, c)), M.merge(M.merge(a, b), c))),
    300,
  );
});

test('law: merge is idempotent, and returns its input by reference when nothing is new', () => {
  check(
    fc.property(viewArb, viewArb, (a, b) => {
      eqView(M.merge(a, a), a);
      assert.is(M.merge(a, a), a);
      const ab = M.merge(a, b);
      assert.is(M.merge(ab, b), ab);
      assert.is(M.merge(ab, a), ab);
    }),
    300,
  );
});

test('law: merge is monotonic: no entry of either side decreases, and it is the least such view', () => {
  check(
    fc.property(viewArb, viewArb, (a, b) => {
      const ab = M.merge(a, b);
      assert.ok(M.leq(a, ab));
      assert.ok(M.leq(b, ab));
      for (const [id, e] of ab) {
        // least: every entry of the join is one side's entry, or their entry-wise join
        const x = a.get(id);
        const y = b.get(id);
        const expect = x === undefined ? y! : y === undefined ? x : M.joinEntry(x, y);
        assert.ok(M.equalsEntry(e, expect));
      }
    }),
    300,
  );
});

test('a restarted node (higher incarnation) overrides a stale down and a removed', () => {
  const x0 = { ...M.entry('x', 'h:1', { status: 'up' }), heartbeat: 5 };
  const ours = M.fromEntries([x0]);
  const accused = E.getOrElse((): M.View => ours)(M.markStatus(ours, 'x', 'down'));
  assert.is(accused.get('x')!.status, 'down');
  // x's own heartbeats do not lift the accusation within the incarnation...
  const xView = M.bumpHeartbeat(M.bumpHeartbeat(ours, 'x'), 'x');
  const seen = M.merge(xView, accused);
  assert.is(seen.get('x')!.status, 'down');
  assert.is(seen.get('x')!.heartbeat, 7, 'but the heartbeats are kept');
  assert.ok(M.needsRefute(seen, 'x'));
  // ...a new incarnation does, on every node that hears it.
  const refuted = M.restart(seen, 'x');
  assert.equal(
    { s: refuted.get('x')!.status, i: refuted.get('x')!.incarnation, h: refuted.get('x')!.heartbeat },
    { s: 'up', i: 1, h: 0 },
  );
  assert.is(M.merge(accused, refuted).get('x')!.status, 'up');
  // removed is sticky within its incarnation, whatever the heartbeats say
  const removed = M.fromEntries([{ ...x0, status: 'removed', heartbeat: 0 }]);
  assert.is(M.merge(removed, M.fromEntries([{ ...x0, heartbeat: 1000 }])).get('x')!.status, 'removed');
  const back = M.restart(removed, 'x');
  assert.is(back.get('x')!.status, 'joining', 'a removed node comes back by joining again');
  assert.is(M.merge(removed, back).get('x')!.status, 'joining');
  // a boot generation lifts the incarnation past anything the node forgot
  assert.is(M.restart(ours, 'x', 1_700_000_000).get('x')!.incarnation, 1_700_000_000);
});

test('an accusation made from an old copy keeps the newer heartbeat and claim of the node', () => {
  const x = M.entry('x', 'h:1', { status: 'up' });
  const fresh = { ...x, heartbeat: 9, claimVersion: 3 };
  const stale = { ...x, heartbeat: 4, claimVersion: 0, status: 'down' as const };
  const j = M.joinEntry(fresh, stale);
  assert.equal({ s: j.status, h: j.heartbeat, c: j.claimVersion }, { s: 'down', h: 9, c: 3 });
});

test('markStatus moves forward only; the node itself undoes by restarting', () => {
  const v = M.fromEntries([M.entry('x', 'h:1')]);
  const up = M.markStatus(v, 'x', 'up');
  assert.ok(E.isRight(up));
  const upView = (up as E.Right<M.View>).right;
  assert.is(upView.get('x')!.status, 'up');
  assert.is((M.markStatus(upView, 'x', 'up') as E.Right<M.View>).right, upView, 'same status: unchanged by reference');
  const leaving = (M.markStatus(upView, 'x', 'leaving') as E.Right<M.View>).right;
  const back = M.markStatus(leaving, 'x', 'up');
  assert.ok(E.isLeft(back));
  assert.match((back as E.Left<string>).left, /restart/);
  assert.ok(E.isLeft(M.markStatus(v, 'nobody', 'down')));
});

test('updateSelf and bumpHeartbeat advance the heartbeat; unknown selves leave the view unchanged', () => {
  const v = M.fromEntries([M.entry('x', 'h:1')]);
  const u = M.updateSelf(v, 'x', { claimVersion: 4, weight: 2 });
  assert.equal([u.get('x')!.heartbeat, u.get('x')!.claimVersion, u.get('x')!.weight], [1, 4, 2]);
  assert.ok(M.leq(v, u) && !M.leq(u, v));
  assert.is(M.bumpHeartbeat(u, 'x').get('x')!.heartbeat, 2);
  assert.is(M.bumpHeartbeat(v, 'y'), v);
  assert.is(M.updateSelf(v, 'y', { weight: 3 }), v);
  assert.is(M.restart(v, 'y'), v);
});

test('invalidEntry names what is wrong with a decoded entry', () => {
  const ok = M.entry('x', 'h:1');
  assert.is(M.invalidEntry(ok), null);
  assert.match(M.invalidEntry({ ...ok, id: '' })!, /id/);
  assert.match(M.invalidEntry({ ...ok, status: 'zombie' as M.Status })!, /status/);
  assert.match(M.invalidEntry({ ...ok, heartbeat: -1 })!, /heartbeat/);
  assert.match(M.invalidEntry({ ...ok, incarnation: 1.5 })!, /incarnation/);
  assert.match(M.invalidEntry({ ...ok, weight: 0 })!, /weight/);
});

test('pickGossipPeer: never self, never down or removed, deterministic given the Random', () => {
  const v = M.fromEntries([
    M.entry('a', 'h:1', { status: 'up' }),
    M.entry('b', 'h:2', { status: 'up' }),
    M.entry('c', 'h:3', { status: 'down' }),
    M.entry('d', 'h:4', { status: 'removed' }),
    M.entry('e', 'h:5', { status: 'leaving' }),
  ]);
  assert.equal(M.pickGossipPeer(v, 'a', { next: () => 0 }), O.some('b'));
  assert.equal(M.pickGossipPeer(v, 'a', { next: () => 0.999999 }), O.some('e'));
  assert.equal(M.pickGossipPeer(M.fromEntries([M.entry('a', 'h:1')]), 'a', { next: () => 0.5 }), O.none);
  check(
    fc.property(viewArb, fc.constantFrom('a', 'b', 'c', 'd'), fc.integer(), (view, self, seed) => {
      const r1 = seeded(seed);
      const r2 = seeded(seed);
      for (let i = 0; i < 5; i++) {
        const p = M.pickGossipPeer(view, self, r1);
        assert.equal(p, M.pickGossipPeer(view, self, r2));
        if (O.isSome(p)) {
          assert.is.not(p.value, self);
          assert.ok(!['down', 'removed'].includes(view.get(p.value)!.status));
        }
      }
    }),
  );
});

test('activeMembers lists joining, up and leaving nodes by id', () => {
  const v = M.fromEntries([
    M.entry('c', 'h', { status: 'leaving' }),
    M.entry('a', 'h', { status: 'up' }),
    M.entry('b', 'h', { status: 'down' }),
    M.entry('d', 'h'),
  ]);
  assert.equal(
    M.activeMembers(v).map((e) => e.id),
    ['a', 'c', 'd'],
  );
});

// ---------------------------------------------------------------------------
// a cluster driven only through the API

type Cmd =
  | { readonly t: 'beat'; readonly i: number }
  | { readonly t: 'update'; readonly i: number; readonly cv: number; readonly w: number }
  | { readonly t: 'mark'; readonly i: number; readonly j: number; readonly s: M.Status }
  | { readonly t: 'restart'; readonly i: number }
  | { readonly t: 'gossip'; readonly i: number; readonly j: number };

const cmdArb = (k: number, markStatuses: readonly M.Status[]): fc.Arbitrary<Cmd> => {
  const node = fc.integer({ min: 0, max: k - 1 });
  return fc.oneof(
    fc.record({ t: fc.constant('beat' as const), i: node }),
    fc.record({ t: fc.constant('update' as const), i: node, cv: fc.integer({ min: 0, max: 5 }), w: fc.constantFrom(1, 2, 3) }),
    fc.record({ t: fc.constant('mark' as const), i: node, j: node, s: fc.constantFrom(...markStatuses) }),
    fc.record({ t: fc.constant('restart' as const), i: node }),
    fc.record({ t: fc.constant('gossip' as const), i: node, j: node }),
  );
};

const ids = (k: number): string[] => Array.from({ length: k }, (_, i) => `n${i}`);

/** Each node knows itself and the seed n0. */
const boot = (k: number): M.View[] => {
  const seed = M.entry('n0', 'seed:7400', { status: 'up' });
  return ids(k).map((id, i) => M.fromEntries(i === 0 ? [seed] : [seed, M.entry(id, `h${i}:7400`)]));
};

/** One gossip exchange by digests and deltas, the way it runs on the wire. */
const exchange = (a: M.View, b: M.View): readonly [M.View, M.View] => {
  const toA = M.delta(b, M.digest(a)); // b answers a's digest with what a lacks
  const a2 = M.applyEntries(a, toA);
  const toB = M.delta(a2, M.digest(b)); // a sends back what b lacks
  return [a2, M.applyEntries(b, toB)];
};

const run = (k: number, cmds: readonly Cmd[], history?: M.View[]): M.View[] => {
  const views = boot(k);
  const names = ids(k);
  for (const c of cmds) {
    const self = names[c.i]!;
    const v = views[c.i]!;
    switch (c.t) {
      case 'beat':
        views[c.i] = M.bumpHeartbeat(v, self);
        break;
      case 'update':
        views[c.i] = M.updateSelf(v, self, { claimVersion: c.cv, weight: c.w });
        break;
      case 'mark':
        views[c.i] = E.getOrElse(() => v)(M.markStatus(v, names[c.j]!, c.s));
        break;
      case 'restart':
        views[c.i] = M.restart(v, self);
        break;
      case 'gossip': {
        if (c.i === c.j) break;
        const [a, b] = exchange(v, views[c.j]!);
        const joined = M.merge(v, views[c.j]!);
        eqView(a, joined, 'initiator ends at the join');
        eqView(b, joined, 'responder ends at the join');
        views[c.i] = a;
        views[c.j] = b;
        break;
      }
    }
    history?.push(views[c.i]!);
  }
  return views;
};

test('law: merge(b, delta(a, digest(b))) = merge(a, b) and delta(a, digest(a)) = [] for views built by the API', () => {
  check(
    fc.property(
      fc.integer({ min: 2, max: 5 }).chain((k) =>
        fc.tuple(fc.constant(k), fc.array(cmdArb(k, M.statuses), { maxLength: 60 }), fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 20 })),
      ),
      ([k, cmds, pairs]) => {
        const history: M.View[] = [];
        const final = run(k, cmds, history);
        const pool = [...history, ...final];
        for (const [x, y] of pairs) {
          const a = pool[x % pool.length]!;
          const b = pool[y % pool.length]!;
          eqView(M.applyEntries(b, M.delta(a, M.digest(b))), M.merge(a, b));
          assert.equal(M.delta(a, M.digest(a)), []);
        }
      },
    ),
    200,
  );
});

test('law: random pairwise gossip among k views converges to the join of all of them', () => {
  check(
    fc.property(
      fc.integer({ min: 2, max: 8 }).chain((k) =>
        fc.tuple(fc.constant(k), fc.array(cmdArb(k, ['joining', 'up', 'leaving']), { maxLength: 60 }), fc.integer()),
      ),
      ([k, cmds, seed]) => {
        const views = run(k, cmds);
        const all = views.reduce(M.merge, M.emptyView);
        const names = ids(k);
        const random = seeded(seed);
        let rounds = 0;
        while (!views.every((v) => M.equals(v, views[0]!))) {
          assert.ok(rounds++ < 500, 'did not converge in 500 rounds');
          for (let i = 0; i < k; i++) {
            const peer = M.pickGossipPeer(views[i]!, names[i]!, random);
            if (O.isNone(peer)) continue;
            const j = names.indexOf(peer.value);
            const [a, b] = exchange(views[i]!, views[j]!);
            views[i] = a;
            views[j] = b;
          }
        }
        eqView(views[0]!, all);
        assert.is(views[0]!.size, k, 'every node learned of every other');
      },
    ),
    100,
  );
});

test.run();
