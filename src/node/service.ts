/**
 * What a node does with a client operation, apart from the wire: the
 * standalone service serves every key from the local replica (N = R = W = 1).
 * The cluster's coordinator implements the same interface over N replicas.
 */
import * as D from '../core/dvvset.js';
import { decodeContext, encodeContext } from '../core/context_codec.js';
import { KvError } from '../errors.js';
import type { ObjectView } from '../core/context_codec.js';
import type { Replica, Obj } from './replica.js';
import { isTombstone, tagValue, tombstone, untag } from './replica.js';

export interface ReadResult {
  /**
   * Every sibling, tombstones flagged. Empty when the key was never written.
   * Values may be views of the backend's own bytes: read them, never mutate.
   */
  readonly siblings: readonly { readonly value: Uint8Array; readonly tombstone: boolean }[];
  /** True when at least one sibling is a value (not a tombstone). */
  readonly found: boolean;
  /** Opaque causal context for a following write (empty when never written). */
  readonly context: Uint8Array;
}

export interface WriteResult {
  readonly context: Uint8Array;
}

export interface KvService {
  /** `r` and `w` of 0 mean the default. `value` null is a delete (tombstone). */
  get(key: Uint8Array, r: number, timeoutMs: number): ReadResult | Promise<ReadResult>;
  put(key: Uint8Array, value: Uint8Array | null, context: Uint8Array, w: number, timeoutMs: number): Promise<WriteResult>;
  /**
   * Optional: `put` that may answer synchronously (a plain value when the
   * write is done before it returns) and may throw instead of rejecting.
   * The server prefers it: a synchronous write then costs no promise.
   */
  write?(key: Uint8Array, value: Uint8Array | null, context: Uint8Array, w: number, timeoutMs: number): WriteResult | Promise<WriteResult>;
  /** Named numbers for STATS, beyond the server's own. */
  stats(): Record<string, number>;
}

const EMPTY = new Uint8Array(0);

export const toReadResult = (obj: Obj | null): ReadResult => {
  if (obj === null) return { siblings: [], found: false, context: EMPTY };
  const values = D.values(obj);
  const siblings = values.map((v) => ({ value: untag(v), tombstone: isTombstone(v) }));
  return { siblings, found: siblings.some((s) => !s.tombstone), context: encodeContext(D.join(obj)) };
};

/** `toReadResult` of the object a view was taken of (objectView's law), without the clock. */
export const viewToReadResult = (view: ObjectView | null): ReadResult => {
  if (view === null) return { siblings: [], found: false, context: EMPTY };
  const n = view.values.length;
  const siblings = new Array<{ readonly value: Uint8Array; readonly tombstone: boolean }>(n);
  let found = false;
  for (let i = 0; i < n; i++) {
    const v = view.values[i] as Uint8Array;
    const dead = isTombstone(v);
    if (!dead) found = true;
    siblings[i] = { value: untag(v), tombstone: dead };
  }
  return { siblings, found, context: view.context };
};

/** Decodes a client's context bytes; empty bytes are a blind write. */
export const clientContext = (bytes: Uint8Array): D.Context => {
  if (bytes.length === 0) return D.emptyContext;
  const d = decodeContext(bytes);
  if (!d.ok) throw new KvError('KV_BAD_ARGUMENT', `context does not decode: ${d.reason}`);
  return d.value;
};

const writeResult = (obj: Obj): WriteResult => ({ context: encodeContext(D.join(obj)) });

const checkQuorum = (name: 'r' | 'w', v: number): void => {
  if (v > 1) throw new KvError('KV_UNAVAILABLE', `${name}=${v} but this standalone node holds 1 replica`);
};

/** One node, one replica of every key. */
export class StandaloneService implements KvService {
  constructor(private readonly replica: Replica) {}

  get(key: Uint8Array, r: number, _timeoutMs = 0): ReadResult | Promise<ReadResult> {
    checkQuorum('r', r);
    const view = this.replica.readView(key);
    return view instanceof Promise ? view.then(viewToReadResult) : viewToReadResult(view);
  }

  put(key: Uint8Array, value: Uint8Array | null, context: Uint8Array, w: number, timeoutMs = 0): Promise<WriteResult> {
    // Not `async`: argument errors still reject (never throw), without an extra promise per put.
    try {
      const r = this.write(key, value, context, w, timeoutMs);
      return r instanceof Promise ? r : Promise.resolve(r);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  write(key: Uint8Array, value: Uint8Array | null, context: Uint8Array, w: number, _timeoutMs = 0): WriteResult | Promise<WriteResult> {
    checkQuorum('w', w);
    // The usual write (its context is the stored clock, or a new key) is done on bytes.
    const superseded = this.replica.supersedeNow(key, context, value);
    if (superseded !== undefined) return { context: superseded };
    const ctx = clientContext(context);
    const obj = this.replica.coordinateNow(key, D.newWithContext(ctx, value === null ? tombstone() : tagValue(value)));
    return obj instanceof Promise ? obj.then(writeResult) : writeResult(obj);
  }

  stats(): Record<string, number> {
    return { replicas: 1 };
  }
}
