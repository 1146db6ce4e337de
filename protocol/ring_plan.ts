/**
 * Wire form of a cluster ring (src/core/ring_plan.ts `ClusterRing`), the
 * body RING_EXCHANGE carries, and the transfer chunk checksum. PROTOCOL.md
 * §15 is the normative layout.
 *
 *   epoch u64 · committer string · qBits u8
 *   nodes   list<string>            (u16 count; every id used below, sorted)
 *   members list<{ node u16, weight f64 }>
 *   current 2^qBits × u16           (node index of each partition's owner)
 *   hasNext u8 (0|1), then next 2^qBits × u16 when 1
 *   done    u32 count, then { partition u16, node u16 } each
 *
 * Law (test/protocol/ring_plan_codec.test.ts): decodeClusterRing(encodeClusterRing(r)) ≡ r.
 */
import * as E from 'fp-ts/lib/Either.js';
import { KvError } from '../src/errors.js';
import { makeRing, MAX_Q_BITS, MIN_Q_BITS } from '../src/core/ring.js';
import type { ClusterRing, Member } from '../src/core/ring_plan.js';
import { Malformed, Reader } from './fields.js';

const utf8 = new TextEncoder();

class Out {
  private readonly parts: number[] = [];
  u8(v: number): void {
    this.parts.push(v & 0xff);
  }
  u16(v: number): void {
    this.parts.push((v >>> 8) & 0xff, v & 0xff);
  }
  u32(v: number): void {
    this.parts.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  }
  u64(v: number): void {
    this.u32(Math.floor(v / 0x100000000));
    this.u32(v % 0x100000000);
  }
  f64(v: number): void {
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleBE(v, 0);
    for (const x of b) this.parts.push(x);
  }
  str(s: string): void {
    const b = utf8.encode(s);
    this.u16(b.length);
    for (const x of b) this.parts.push(x);
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/** The RING_EXCHANGE body of a cluster ring. */
export const encodeClusterRing = (r: ClusterRing): Uint8Array => {
  const ids = new Set<string>(r.current.owners);
  if (r.next !== null) for (const o of r.next.owners) ids.add(o);
  for (const m of r.members) ids.add(m.id);
  const done = r.done.map((k) => {
    const at = k.indexOf(':');
    return { partition: Number(k.slice(0, at)), node: k.slice(at + 1) };
  });
  for (const d of done) ids.add(d.node);
  const nodes = [...ids].sort();
  if (nodes.length > 0xffff) throw new KvError('KV_TOO_LARGE', `${nodes.length} nodes in a ring`);
  const index = new Map(nodes.map((id, i) => [id, i]));
  const o = new Out();
  o.u64(r.epoch);
  o.str(r.committer);
  o.u8(r.current.qBits);
  o.u16(nodes.length);
  for (const id of nodes) o.str(id);
  o.u16(r.members.length);
  for (const m of r.members) {
    o.u16(index.get(m.id)!);
    o.f64(m.weight);
  }
  for (const x of r.current.owners) o.u16(index.get(x)!);
  o.u8(r.next === null ? 0 : 1);
  if (r.next !== null) for (const x of r.next.owners) o.u16(index.get(x)!);
  o.u32(done.length);
  for (const d of done) {
    o.u16(d.partition);
    o.u16(index.get(d.node)!);
  }
  return o.bytes();
};

/** The inverse of encodeClusterRing; never throws (KV_BAD_FRAME for a body that breaks the layout). */
export const decodeClusterRing = (body: Uint8Array): E.Either<KvError, ClusterRing> => {
  const r = new Reader(body);
  try {
    const epoch = r.counter('epoch');
    const committer = r.str('committer');
    if (committer.length === 0) throw new Malformed('committer is empty');
    const qBits = r.u8('qBits');
    if (qBits < MIN_Q_BITS || qBits > MAX_Q_BITS) throw new Malformed(`qBits ${qBits} not in ${MIN_Q_BITS}..${MAX_Q_BITS}`);
    const q = 2 ** qBits;
    const count = r.count('nodes', 3);
    const nodes: string[] = [];
    for (let i = 0; i < count; i++) {
      const id = r.str('node id');
      if (id.length === 0) throw new Malformed('node id is empty');
      nodes.push(id);
    }
    const node = (what: string): string => {
      const i = r.u16(what);
      const id = nodes[i];
      if (id === undefined) throw new Malformed(`${what} ${i} of ${nodes.length} nodes`);
      return id;
    };
    const mcount = r.count('members', 10);
    const members: Member[] = [];
    for (let i = 0; i < mcount; i++) {
      const id = node('member');
      const weight = r.f64('weight');
      if (!Number.isFinite(weight) || weight <= 0) throw new Malformed(`weight ${weight} is not a positive finite number`);
      members.push({ id, weight });
    }
    const owners = (what: string): string[] => {
      r.need(2 * q, what);
      return Array.from({ length: q }, () => node('owner'));
    };
    const current = makeRing(owners('current owners'), Math.max(1, epoch));
    const hasNext = r.flags('hasNext', 1) === 1;
    const next = hasNext ? makeRing(owners('next owners'), Math.max(1, epoch)) : null;
    const dcount = r.u32('done count');
    r.need(4 * dcount, 'done');
    const done: string[] = [];
    for (let i = 0; i < dcount; i++) {
      const p = r.u16('done partition');
      if (p >= q) throw new Malformed(`done partition ${p} >= ${q}`);
      done.push(`${p}:${node('done node')}`);
    }
    r.end();
    return E.right({ epoch, committer, current, next, members, done: done.sort() });
  } catch (e) {
    if (e instanceof Malformed) return E.left(new KvError('KV_BAD_FRAME', e.reason));
    return E.left(new KvError('KV_BAD_FRAME', `ring does not decode: ${e instanceof Error ? e.message : String(e)}`));
  }
};

const FNV32_OFFSET = 0x811c9dc5;

const fnv = (h: number, b: Uint8Array): number => {
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h;
};

/** FNV-1a 32 over each item's key then object bytes, in order (TRANSFER_CHUNK.checksum). */
export const chunkChecksum = (items: readonly { readonly key: Uint8Array; readonly object: Uint8Array }[]): number => {
  let h = FNV32_OFFSET;
  for (const it of items) {
    h = fnv(h, it.key);
    h = fnv(h, it.object);
  }
  return h >>> 0;
};
