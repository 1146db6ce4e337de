import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as D from '../../src/core/dvvset.js';
import * as Q from '../../src/core/quorum.js';
import { check } from '../helpers/seed.js';

// Versions of one key: c1 supersedes c0; c2 is concurrent with c1 (a sibling beside c0's value).
const c0 = D.update(D.newValue('x'), 'a');
const c1 = D.update(D.newWithContext(D.join(c0), 'y'), 'a', c0);
const c2 = D.update(D.newValue('z'), 'b', c0);
const CLOCKS = { c0, c1, c2 } as const;

const TARGETS: readonly Q.Target[] = [{ node: 'p1' }, { node: 'p2' }, { node: 'f1', hintFor: 'p3' }];

type GetEvent = 'c0' | 'c1' | 'c2' | 'nf' | 'fail' | 'silent';
const GET_EVENTS: readonly GetEvent[] = ['c0', 'c1', 'c2', 'nf', 'fail', 'silent'];

const permutations = <T>(xs: readonly T[]): T[][] =>
  xs.length <= 1 ? [xs.slice()] : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));

const product = <T>(choices: readonly T[], k: number): T[][] =>
  k === 0 ? [[]] : product(choices, k - 1).flatMap((rest) => choices.map((c) => [c, ...rest]));

/** Every assignment of events to targets, every delivery order, with the timeout at every position or never. */
function* schedules<E>(events: readonly E[], silent: E): Generator<{ plan: E[]; order: (number | 'timeout')[] }> {
  for (const plan of product(events, TARGETS.length)) {
    const live = plan.map((e, i) => (e === silent ? -1 : i)).filter((i) => i >= 0);
    for (const perm of permutations(live)) {
      for (let t = 0; t <= perm.length + 1; t++) {
        const order: (number | 'timeout')[] = [...perm];
        if (t <= perm.length) order.splice(t, 0, 'timeout');
        yield { plan, order };
      }
    }
  }
}

const dotsOf = (c: D.Clock<string> | null): string => JSON.stringify(c);

test('get: done exactly when R replies are in, R became impossible, or time ran out; answer and repairs are exact (every order, n = 3)', () => {
  let cases = 0;
  for (let r = 1; r <= 3; r++) {
    for (const { plan, order } of schedules(GET_EVENTS, 'silent')) {
      cases++;
      let s = Q.initGet<string>({ n: 3, r, targets: TARGETS });
      let replies = 0;
      let pending = TARGETS.length;
      let timedOut = false;
      let answered: Q.GetOutcome<string> | null = null;
      const seen: { i: number; reply: D.Clock<string> | null }[] = [];
      const expectDone = (): boolean => replies >= r || replies + pending < r || timedOut;
      assert.is(Q.isDone(s), expectDone());
      if (Q.isDone(s)) answered = Q.outcome(s);
      for (const ev of order) {
        if (ev === 'timeout') {
          s = Q.addTimeout(s);
          timedOut = true;
        } else {
          const e = plan[ev]!;
          const node = TARGETS[ev]!.node;
          if (e === 'fail') s = Q.addFailure(s, node, 'KV_IO_ERROR');
          else s = Q.addReply(s, node, e === 'nf' ? null : CLOCKS[e as keyof typeof CLOCKS]);
          if (!timedOut) {
            pending--;
            if (e !== 'fail') {
              replies++;
              seen.push({ i: ev, reply: e === 'nf' ? null : CLOCKS[e as keyof typeof CLOCKS] });
            }
          }
        }
        assert.is(Q.isDone(s), expectDone(), `isDone after ${ev} (r=${r}, plan=${plan}, order=${order})`);
        if (answered === null && Q.isDone(s)) {
          answered = Q.outcome(s);
          assert.ok(answered !== null);
          assert.is(answered.ok, replies >= r, 'ok iff R replies');
          if (answered.ok) {
            const found = seen.map((x) => x.reply).filter((c): c is D.Clock<string> => c !== null);
            assert.is(dotsOf(answered.value), dotsOf(found.length === 0 ? null : D.syncAll(found)), 'answer is the merge');
          } else {
            assert.is(answered.code, replies + pending < r ? 'KV_UNAVAILABLE' : 'KV_TIMEOUT');
          }
        }
        if (!Q.isDone(s)) assert.is(Q.outcome(s), null);
      }
      if (!Q.isFinal(s)) {
        assert.ok(plan.includes('silent') && !timedOut, 'final unless some target never answered');
        s = Q.addTimeout(s);
      }
      assert.ok(Q.isDone(s) && Q.isFinal(s), 'always done once everything is in');
      // Repairs: exactly the replied targets whose reply is notfound or older than the merge.
      const found = seen.map((x) => x.reply).filter((c): c is D.Clock<string> => c !== null);
      const merged = D.syncAll(found);
      const expected =
        found.length === 0
          ? []
          : seen
              .filter((x) => x.reply === null || !D.equals(x.reply, merged))
              .map((x) => ({ node: TARGETS[x.i]!.node, hintFor: TARGETS[x.i]!.hintFor, object: dotsOf(merged) }));
      const actual = Q.finalAction(s).map((rp) => ({ node: rp.node, hintFor: rp.hintFor, object: dotsOf(rp.object) }));
      const byNode = (a: { node: string }, b: { node: string }): number => (a.node < b.node ? -1 : 1);
      assert.equal(actual.sort(byNode), expected.sort(byNode), `repairs (r=${r}, plan=${plan}, order=${order})`);
    }
  }
  assert.ok(cases > 5000, `${cases} schedules`);
});

type PutEvent = 'ack' | 'fail' | 'silent';

test('put: done after W acks (fallbacks count: sloppy quorum), early failure when W is out of reach, pw on primaries (every order, n = 3)', () => {
  let cases = 0;
  for (let w = 1; w <= 3; w++) {
    for (let pw = 0; pw <= w; pw++) {
      for (const { plan, order } of schedules<PutEvent>(['ack', 'fail', 'silent'], 'silent')) {
        cases++;
        let s = Q.initPut<string>({ n: 3, w, pw, targets: TARGETS });
        let acks = 0;
        let primaryAcks = 0;
        let pending = 3;
        let primaryPending = 2;
        let timedOut = false;
        let answered: Q.PutOutcome<string> | null = null;
        const met = (): boolean => acks >= w && primaryAcks >= pw;
        const expectDone = (): boolean => met() || acks + pending < w || primaryAcks + primaryPending < pw || timedOut;
        for (const ev of order) {
          if (ev === 'timeout') {
            s = Q.addTimeout(s);
            timedOut = true;
          } else {
            const t = TARGETS[ev]!;
            if (plan[ev] === 'ack') s = Q.addReply(s, t.node);
            else s = Q.addFailure(s, t.node, 'KV_OVERLOADED');
            if (!timedOut) {
              pending--;
              if (t.hintFor === undefined) primaryPending--;
              if (plan[ev] === 'ack') {
                acks++;
                if (t.hintFor === undefined) primaryAcks++;
              }
            }
          }
          assert.is(Q.isDone(s), expectDone());
          if (answered === null && Q.isDone(s)) {
            answered = Q.outcome(s);
            assert.ok(answered !== null);
            assert.is(answered.ok, met());
            if (answered.ok) assert.is(answered.fallbackAcks, acks - primaryAcks);
            else assert.is(answered.code, timedOut && !(acks + pending < w || primaryAcks + primaryPending < pw) ? 'KV_TIMEOUT' : 'KV_UNAVAILABLE');
          }
        }
        if (!Q.isFinal(s)) s = Q.addTimeout(s);
        assert.ok(Q.isDone(s) && Q.isFinal(s));
      }
    }
  }
  assert.ok(cases > 3000, `${cases} schedules`);
});

test('a fallback ack alone meets W = 1 (sloppy quorum); with pw = 1 it does not', () => {
  const s = Q.addReply(Q.initPut<string>({ n: 3, w: 1, targets: TARGETS }), 'f1');
  const o = Q.outcome(s);
  assert.ok(o !== null && o.ok && o.fallbackAcks === 1);
  const strict = Q.addReply(Q.initPut<string>({ n: 3, w: 1, pw: 1, targets: TARGETS }), 'f1');
  assert.not.ok(Q.isDone(strict));
});

test('get over random clusters (n up to 5, random versions of one key): merge is order-independent, repairs exact', () => {
  // Versions of one key from one history: each step reads some earlier version
  // and writes through a coordinator on top of that coordinator's own latest
  // version (a coordinator never reuses a dot), which then also syncs the read one.
  const history = (steps: readonly [number, number, boolean][]): D.Clock<number>[] => {
    const out: D.Clock<number>[] = [D.empty];
    const replicas: D.Clock<number>[] = Array.from({ length: 5 }, () => D.empty);
    steps.forEach(([from, coord, blind], k) => {
      const base = out[from % out.length]!;
      const write = blind ? D.newValue(k) : D.newWithContext(D.join(base), k);
      replicas[coord] = D.sync(D.update(write, `r${coord}`, replicas[coord]!), base);
      out.push(replicas[coord]!);
    });
    return out;
  };
  check(
    fc.property(
      fc.array(fc.tuple(fc.nat(50), fc.nat(4), fc.boolean()), { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 1, max: 5 }),
      fc.nat(),
      fc.array(fc.tuple(fc.nat(50), fc.nat(3)), { minLength: 5, maxLength: 5 }),
      (steps, n, rSeed, picks) => {
        const versions = history(steps);
        const r = 1 + (rSeed % n);
        const targets = Array.from({ length: n }, (_, i) => ({ node: `t${i}` }));
        // kind 0: a version; 1: notfound; 2: failure; 3: a version too.
        const plan = picks.slice(0, n).map(([v, kind]) => (kind === 1 ? null : kind === 2 ? 'fail' : versions[v % versions.length]!));
        let s = Q.initGet<number>({ n, r, targets });
        const order = targets.map((_, i) => i).sort((a, b) => ((a * 31 + rSeed) % 7) - ((b * 31 + rSeed) % 7));
        for (const i of order) {
          const p = plan[i]!;
          s = p === 'fail' ? Q.addFailure(s, `t${i}`, 'KV_TIMEOUT') : Q.addReply(s, `t${i}`, p);
          // Duplicates and strangers change nothing.
          s = Q.addReply(s, `t${i}`, null);
          s = Q.addReply(s, 'stranger', versions[0]!);
        }
        assert.ok(Q.isFinal(s) && Q.isDone(s));
        const replied = plan.map((p, i) => ({ p, i })).filter((x) => x.p !== 'fail') as { p: D.Clock<number> | null; i: number }[];
        const found = replied.map((x) => x.p).filter((c): c is D.Clock<number> => c !== null && c.length > 0);
        const merged = D.syncAll(found);
        const o = Q.outcome(s)!;
        assert.is(o.ok, replied.length >= r);
        if (o.ok) assert.ok(o.value === null ? found.length === 0 : D.equals(o.value, merged));
        const stale = found.length === 0 ? [] : replied.filter((x) => x.p === null || !D.equals(x.p, merged)).map((x) => `t${x.i}`);
        assert.equal(Q.finalAction(s).map((rp) => rp.node).sort(), stale.sort());
        for (const rp of Q.finalAction(s)) assert.ok(D.equals(rp.object, merged));
      },
    ),
    300,
  );
});

test('too few targets for R fails at once with KV_UNAVAILABLE; bad options throw', () => {
  const s = Q.initGet<string>({ n: 3, r: 2, targets: [{ node: 'p1' }] });
  assert.ok(Q.isDone(s));
  const o = Q.outcome(s);
  assert.ok(o !== null && !o.ok && o.code === 'KV_UNAVAILABLE' && o.needed === 2);
  assert.throws(() => Q.initGet({ n: 3, r: 4, targets: TARGETS }), /r must be/);
  assert.throws(() => Q.initGet({ n: 3, r: 1, targets: [{ node: 'a' }, { node: 'a' }] }), /twice/);
  assert.throws(() => Q.initPut({ n: 3, w: 2, pw: 3, targets: TARGETS }), /pw must be/);
  assert.is(Q.invalidPut({ n: 3, w: 2, targets: TARGETS }), null);
});

test('delete is a put of a tombstone; the failed outcome lists failures', () => {
  let s = Q.initDelete<{ deleted: true }>({ n: 3, w: 2, targets: TARGETS });
  s = Q.addFailure(s, 'p1', 'KV_IO_ERROR');
  s = Q.addFailure(s, 'p2', 'KV_OVERLOADED');
  const o = Q.outcome(s);
  assert.ok(o !== null && !o.ok);
  if (o !== null && !o.ok) {
    assert.is(o.code, 'KV_UNAVAILABLE');
    assert.equal(o.failures, [
      { node: 'p1', code: 'KV_IO_ERROR' },
      { node: 'p2', code: 'KV_OVERLOADED' },
    ]);
  }
});

test('all-notfound answers null and repairs nothing; a fallback that is stale is repaired with its hint', () => {
  let s = Q.initGet<string>({ n: 3, r: 2, targets: TARGETS });
  s = Q.addReply(s, 'p1', null);
  s = Q.addReply(s, 'p2', null);
  const o = Q.outcome(s);
  assert.ok(o !== null && o.ok && o.value === null && o.repairs.length === 0);
  let t = Q.initGet<string>({ n: 3, r: 2, targets: TARGETS });
  t = Q.addReply(t, 'p1', c1);
  t = Q.addReply(t, 'f1', c0);
  t = Q.addReply(t, 'p2', c1);
  assert.equal(Q.finalAction(t), [{ node: 'f1', hintFor: 'p3', object: c1 }]);
});

test.run();
