/**
 * Dotted version vector sets (DVVSet): the causal context of one key.
 *
 * The idea is the one of Almeida, Baquero et al., "Scalable and Accurate
 * Causality Tracking for Eventually Consistent Stores" (DAIS 2014), which Riak
 * 2 adopted. Only the coordinating replicas create events, so a clock has at
 * most one entry per replica id that ever coordinated a write for the key
 * (about N), however many clients write: the clock never needs pruning, and
 * nothing here prunes.
 *
 * Model. A clock is a list of entries sorted by replica id. An entry
 * `{ id, counter, values }` says two things at once:
 *   - causal history: every event `(id, 1) .. (id, counter)` has been seen;
 *   - live values: `values[k]` is the value written by event `(id, counter - k)`
 *     (newest first). Events `(id, 1) .. (id, counter - values.length)` were
 *     overwritten by some write whose context covered them.
 * Live events of one id always form a suffix `(counter - len, counter]`
 * because a write supersedes a whole prefix `(id, 1..c)` of every id (contexts
 * are per-id counters), and sync only ever drops prefixes.
 *
 * A client write is not a clock: it is a `Pending` (a context and a value),
 * and the coordinator turns it into a stored version with `update`. Keeping
 * the two apart means a stored clock never holds "anonymous" values without a
 * dot, so `sync` needs no equality on V.
 *
 * Tombstones are ordinary values chosen by the caller (e.g. `{ deleted: true }`);
 * the clock treats them like any other value. `isDeleted` tells whether every
 * sibling is one.
 *
 * Laws (tested in test/core/dvvset.test.ts and causal_model.test.ts), for
 * clocks reachable in one history (any replicas' states of the same key):
 *   sync(a, b)            = sync(b, a)                       (commutative)
 *   sync(a, sync(b, c))   = sync(sync(a, b), c)              (associative)
 *   sync(a, a)            = a                                (idempotent)
 *   descends(sync(a, b), a) and descends(sync(a, b), b)
 *   values(update(newWithContext(join(c), v), id, c)) = [v]  (a write with the
 *       context of a read supersedes everything that read returned)
 *   values(update(newValue(v), id, c)) = values(c) plus v    (a blind write adds a sibling)
 *   equal clocks are equal arrays of equal entries in the same order (canonical).
 */
import type { NodeId } from './types.js';

// ---------------------------------------------------------------- model

/** One replica id's part of a clock; `values[k]` carries the dot `(id, counter - k)`. */
export interface Entry<V> {
  readonly id: NodeId;
  readonly counter: number;
  readonly values: readonly V[];
}

/** A stored version: entries sorted by `id`, strictly ascending (JS string order). */
export type Clock<V> = readonly Entry<V>[];

/** One replica id's counter in a causal context. */
export interface ContextEntry {
  readonly id: NodeId;
  readonly counter: number;
}

/**
 * What a client holds between a get and a put: the causal history it saw,
 * per replica id, sorted by `id` strictly ascending. Opaque to the client
 * (see context_codec.ts for its bytes).
 */
export type Context = readonly ContextEntry[];

/** A client write on its way to a coordinator: the value and what it has seen. */
export interface Pending<V> {
  readonly context: Context;
  readonly value: V;
}

/** An event: the `counter`-th write coordinated by replica `id`. */
export interface Dot {
  readonly id: NodeId;
  readonly counter: number;
}

// ---------------------------------------------------------------- constructors

/** The clock of a key nobody has written. */
export const empty: Clock<never> = [];

/** The empty causal context (a put without a preceding get). */
export const emptyContext: Context = [];

/** A client write with no context: it supersedes nothing and becomes a sibling. */
export const newValue = <V>(value: V): Pending<V> => ({ context: emptyContext, value });

/** A client write that supersedes exactly what the read that produced `context` returned. */
export const newWithContext = <V>(context: Context, value: V): Pending<V> => ({ context, value });

// ---------------------------------------------------------------- validation

const isCounter = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 1;

/** Why `clock` breaks the model's invariants, or null when it is well formed. */
export const invalid = <V>(clock: Clock<V>): string | null => {
  if (!Array.isArray(clock)) return 'clock is not an array';
  for (let i = 0; i < clock.length; i++) {
    const e = clock[i] as Entry<V> | undefined;
    if (e === undefined || typeof e !== 'object') return `entry ${i} is not an object`;
    if (typeof e.id !== 'string' || e.id.length === 0) return `entry ${i} id is not a non-empty string`;
    if (!isCounter(e.counter)) return `entry ${i} counter is not a safe integer >= 1`;
    if (!Array.isArray(e.values)) return `entry ${i} values is not an array`;
    if (e.values.length > e.counter) return `entry ${i} holds more values than its counter`;
    if (i > 0 && !((clock[i - 1] as Entry<V>).id < e.id)) return `entry ${i} id is not above the previous id`;
  }
  return null;
};

/** Why `context` is malformed, or null. */
export const invalidContext = (context: Context): string | null => {
  if (!Array.isArray(context)) return 'context is not an array';
  for (let i = 0; i < context.length; i++) {
    const e = context[i] as ContextEntry | undefined;
    if (e === undefined || typeof e !== 'object') return `entry ${i} is not an object`;
    if (typeof e.id !== 'string' || e.id.length === 0) return `entry ${i} id is not a non-empty string`;
    if (!isCounter(e.counter)) return `entry ${i} counter is not a safe integer >= 1`;
    if (i > 0 && !((context[i - 1] as ContextEntry).id < e.id)) return `entry ${i} id is not above the previous id`;
  }
  return null;
};

// ---------------------------------------------------------------- combinators

/**
 * Merges two entries of the same id. The one with the higher counter has seen
 * more events of this id; of its values keep those the other side has not
 * seen overwritten (dots above the other's floor `counter - values.length`).
 * Returns one of its inputs by reference when nothing is dropped.
 */
const mergeEntry = <V>(a: Entry<V>, b: Entry<V>): Entry<V> => {
  const aFloor = a.counter - a.values.length;
  const bFloor = b.counter - b.values.length;
  if (a.counter >= b.counter) {
    if (aFloor >= bFloor) return a;
    return { id: a.id, counter: a.counter, values: a.values.slice(0, a.counter - bFloor) };
  }
  if (bFloor >= aFloor) return b;
  return { id: b.id, counter: b.counter, values: b.values.slice(0, b.counter - aFloor) };
};

/**
 * The merge of two replicas' versions of a key: the union of their causal
 * histories, keeping each value unless the other side saw it overwritten.
 * Returns `a` (or `b`) by reference when the result equals it entry for entry.
 */
export const sync = <V>(a: Clock<V>, b: Clock<V>): Clock<V> => {
  if (a === b || b.length === 0) return a;
  if (a.length === 0) return b;
  const out: Entry<V>[] = [];
  let i = 0;
  let j = 0;
  let sameA = true; // every output entry so far is a's entry by reference
  let sameB = true;
  while (i < a.length && j < b.length) {
    const ea = a[i] as Entry<V>;
    const eb = b[j] as Entry<V>;
    if (ea.id === eb.id) {
      const m = mergeEntry(ea, eb);
      if (m !== ea) sameA = false;
      if (m !== eb) sameB = false;
      out.push(m);
      i++;
      j++;
    } else if (ea.id < eb.id) {
      out.push(ea);
      sameB = false;
      i++;
    } else {
      out.push(eb);
      sameA = false;
      j++;
    }
  }
  if (i < a.length) {
    sameB = false;
    while (i < a.length) out.push(a[i++] as Entry<V>);
  }
  if (j < b.length) {
    sameA = false;
    while (j < b.length) out.push(b[j++] as Entry<V>);
  }
  if (sameA) return a;
  if (sameB) return b;
  return out;
};

/** `sync` of any number of clocks (the empty clock for none). */
export const syncAll = <V>(clocks: readonly Clock<V>[]): Clock<V> => {
  let acc: Clock<V> = empty;
  for (const c of clocks) acc = sync(acc, c);
  return acc;
};

/**
 * Folds a causal context into a clock: values whose dots the context covers
 * are overwritten; ids the context knows beyond the clock raise the counter.
 */
const absorbContext = <V>(clock: Clock<V>, context: Context): Clock<V> => {
  if (context.length === 0) return clock;
  const out: Entry<V>[] = [];
  let i = 0;
  let j = 0;
  while (i < clock.length || j < context.length) {
    const e = clock[i];
    const c = context[j];
    if (c === undefined || (e !== undefined && e.id < c.id)) {
      out.push(e as Entry<V>);
      i++;
    } else if (e === undefined || c.id < e.id) {
      out.push({ id: c.id, counter: c.counter, values: [] });
      j++;
    } else {
      // Same id: keep only values with dots above the context's counter.
      if (c.counter >= e.counter) out.push(e.values.length === 0 && c.counter === e.counter ? e : { id: e.id, counter: c.counter, values: [] });
      else if (e.counter - e.values.length >= c.counter) out.push(e);
      else out.push({ id: e.id, counter: e.counter, values: e.values.slice(0, e.counter - c.counter) });
      i++;
      j++;
    }
  }
  return out;
};

/**
 * The coordinator's event: stores a client write as the next dot of replica
 * `id`, on top of the coordinator's current version `local` of the key.
 *
 * The write supersedes every value of `local` its context covers and keeps
 * the others as siblings. The new dot is `(id, c + 1)` where `c` is the
 * highest counter of `id` in `local` or the context, so `local` must be the
 * coordinator's durable current version: coordinating from a stale or lost
 * `local` could reuse a dot (as in any DVV scheme, a replica id must not
 * restart with an empty store; give a wiped node a new id).
 */
export const update = <V>(write: Pending<V>, id: NodeId, local: Clock<V> = empty): Clock<V> => {
  const base = absorbContext(local, write.context);
  const out: Entry<V>[] = [];
  let placed = false;
  for (const e of base) {
    if (!placed && e.id === id) {
      const values = new Array<V>(e.values.length + 1);
      values[0] = write.value;
      for (let k = 0; k < e.values.length; k++) values[k + 1] = e.values[k] as V;
      out.push({ id, counter: e.counter + 1, values });
      placed = true;
    } else {
      if (!placed && id < e.id) {
        out.push({ id, counter: 1, values: [write.value] });
        placed = true;
      }
      out.push(e);
    }
  }
  if (!placed) out.push({ id, counter: 1, values: [write.value] });
  return out;
};

/** The causal context to hand a client with the values of `clock`. */
export const join = <V>(clock: Clock<V>): Context => {
  const out = new Array<ContextEntry>(clock.length);
  for (let i = 0; i < clock.length; i++) {
    const e = clock[i] as Entry<V>;
    out[i] = { id: e.id, counter: e.counter };
  }
  return out;
};

/** The siblings, in a deterministic order: by replica id, newest dot first within an id. */
export const values = <V>(clock: Clock<V>): readonly V[] => {
  if (clock.length === 1) return (clock[0] as Entry<V>).values;
  const out: V[] = [];
  for (const e of clock) for (const v of e.values) out.push(v);
  return out;
};

/** The siblings with their dots, in the order of `values`. */
export const dotted = <V>(clock: Clock<V>): readonly { readonly dot: Dot; readonly value: V }[] => {
  const out: { dot: Dot; value: V }[] = [];
  for (const e of clock) e.values.forEach((value, k) => out.push({ dot: { id: e.id, counter: e.counter - k }, value }));
  return out;
};

/** Number of siblings. */
export const size = <V>(clock: Clock<V>): number => {
  let n = 0;
  for (const e of clock) n += e.values.length;
  return n;
};

/** Whether the context (or clock's history) includes the event `dot`. */
export const covers = (context: Context | Clock<unknown>, dot: Dot): boolean => {
  for (const e of context) if (e.id === dot.id) return e.counter >= dot.counter;
  return false;
};

/**
 * Whether `a`'s causal history includes all of `b`'s (a ≥ b). For clocks of
 * one history this also means `a` has every value of `b` that is still live.
 */
export const descends = <V>(a: Clock<V> | Context, b: Clock<V> | Context): boolean => {
  let i = 0;
  for (const eb of b) {
    while (i < a.length && (a[i] as ContextEntry).id < eb.id) i++;
    const ea = a[i];
    if (ea === undefined || ea.id !== eb.id || ea.counter < eb.counter) return false;
  }
  return true;
};

/** `a` has seen strictly more than `b`. */
export const dominates = <V>(a: Clock<V>, b: Clock<V>): boolean => descends(a, b) && !descends(b, a);

/**
 * Structural equality: same ids, counters and values in the same positions
 * (`eq` compares values; default `===`). Clocks are canonical by construction
 * (sorted ids, no duplicates), so equal clocks also encode to equal bytes.
 */
export const equals = <V>(a: Clock<V>, b: Clock<V>, eq: (x: V, y: V) => boolean = (x, y) => x === y): boolean => {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const ea = a[i] as Entry<V>;
    const eb = b[i] as Entry<V>;
    if (ea.id !== eb.id || ea.counter !== eb.counter || ea.values.length !== eb.values.length) return false;
    for (let k = 0; k < ea.values.length; k++) if (!eq(ea.values[k] as V, eb.values[k] as V)) return false;
  }
  return true;
};

/** Maps every value (e.g. decode bytes into records), keeping dots. */
export const map = <A, B>(clock: Clock<A>, f: (a: A) => B): Clock<B> =>
  clock.map((e) => ({ id: e.id, counter: e.counter, values: e.values.map(f) }));

/**
 * Builds a clock from entries in any order: sorts by id, drops entries whose
 * counter is 0, and fails (returns a reason) on duplicates or bad counters.
 * The result is the canonical form that `equals` and the codec rely on.
 */
export const fromEntries = <V>(entries: readonly Entry<V>[]): { ok: true; clock: Clock<V> } | { ok: false; reason: string } => {
  const kept = entries.filter((e) => e.counter !== 0).slice();
  kept.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  const reason = invalid(kept);
  return reason === null ? { ok: true, clock: kept } : { ok: false, reason };
};

/**
 * Last-write-wins: keeps the one value `pick` prefers and drops the other
 * siblings, keeping the causal history. `pick(a, b)` returns `a` or `b`; make
 * it a total order on values (e.g. by timestamp, then by bytes) so every
 * replica picks the same winner whatever the sibling order.
 *
 * The winner moves to the newest dot of its entry (as Riak's dvvset does):
 * an entry can only hold a suffix of its dots. That relabelling is only
 * consistent if a namespace applies `lww` to every version it stores (after
 * each update and each sync); mixing collapsed and uncollapsed versions of
 * one key breaks `sync`'s commutativity.
 */
export const lww = <V>(clock: Clock<V>, pick: (a: V, b: V) => V): Clock<V> => {
  let winner: V | undefined;
  let winnerEntry = -1;
  for (let i = 0; i < clock.length; i++) {
    for (const v of (clock[i] as Entry<V>).values) {
      if (winnerEntry < 0) {
        winner = v;
        winnerEntry = i;
      } else if (pick(winner as V, v) !== winner) {
        winner = v;
        winnerEntry = i;
      }
    }
  }
  if (winnerEntry < 0) return clock;
  let changed = false;
  const out = clock.map((e, i) => {
    if (i === winnerEntry) {
      if (e.values.length === 1 && e.values[0] === winner) return e;
      changed = true;
      return { id: e.id, counter: e.counter, values: [winner as V] };
    }
    if (e.values.length === 0) return e;
    changed = true;
    return { id: e.id, counter: e.counter, values: [] };
  });
  return changed ? out : clock;
};

/**
 * A tombstone check for the whole key: true when the clock has siblings and
 * every one is a tombstone (so a get answers "not found"). An empty clock is
 * not deleted, it was never written.
 */
export const isDeleted = <V>(clock: Clock<V>, isTombstone: (v: V) => boolean): boolean => {
  let any = false;
  for (const e of clock) {
    for (const v of e.values) {
      if (!isTombstone(v)) return false;
      any = true;
    }
  }
  return any;
};
