/**
 * Bodies of the anti-entropy admin messages (PROTOCOL.md §16): AAE_EXCHANGE
 * (0x34) asks a node to exchange one partition with another primary now and
 * answers what the exchange did; AAE_STATUS (0x35) answers, per partition
 * the node exchanged, when and with what result. Both need the `admin` role.
 *
 * Laws (test/protocol/aae_admin.test.ts):
 *   decodeX(encodeX(x)) = right(x)   for each body X
 * and the decoders never throw: garbage is a Left(KvError KV_BAD_FRAME).
 */
import * as E from 'fp-ts/lib/Either.js';
import { KvError } from '../src/errors.js';
import { Reader, bad, checkUint, decodeWhole, strBytes } from './fields.js';
import { MAX_U16, MAX_U32 } from './opcodes.js';

export interface AaeExchangeRequest {
  readonly partition: number;
  /** The peer's node id; empty: any other primary of the partition that is up. */
  readonly peer: string;
}

/** What one exchange did (also the node's own result type, src/cluster/anti_entropy.ts). */
export interface AaeExchangeReply {
  readonly partition: number;
  /** The node id exchanged with. */
  readonly peer: string;
  /** Tree nodes whose digests were compared. */
  readonly segmentsCompared: number;
  readonly differingSegments: number;
  /** Keys whose objects differed between the two. */
  readonly keysDiffering: number;
  /** Keys written on either side. */
  readonly keysRepaired: number;
  /** Request bytes the node sent (bodies, estimated from the encodings' sizes). */
  readonly bytesSent: number;
  readonly tombstonesReaped: number;
}

export interface AaePartitionStatus {
  readonly partition: number;
  /** Wall-clock ms of the last finished exchange (0: never). */
  readonly lastExchangeMs: number;
  readonly lastPeer: string;
  readonly lastKeysRepaired: number;
  readonly keysRepaired: number;
  readonly tombstones: number;
}

const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

class Out {
  private readonly parts: Buffer[] = [];
  u8(v: number): this {
    this.parts.push(Buffer.from([v]));
    return this;
  }
  u16(v: number): this {
    const b = Buffer.allocUnsafe(2);
    b.writeUInt16BE(v, 0);
    this.parts.push(b);
    return this;
  }
  u32(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(v, 0);
    this.parts.push(b);
    return this;
  }
  u64(v: number): this {
    const b = Buffer.allocUnsafe(8);
    b.writeUInt32BE(Math.floor(v / 0x100000000), 0);
    b.writeUInt32BE(v % 0x100000000, 4);
    this.parts.push(b);
    return this;
  }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    this.u16(b.length);
    this.parts.push(b);
    return this;
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

const run = <A>(body: Uint8Array, read: (r: Reader) => A): E.Either<KvError, A> => decodeWhole('aae admin', body, read);

/** AAE_EXCHANGE request: partition u16, peer string. */
export const encodeAaeExchangeRequest = (q: AaeExchangeRequest): Buffer => {
  checkUint('partition', q.partition, MAX_U16);
  strBytes('peer', q.peer);
  return new Out().u16(q.partition).str(q.peer).done();
};

export const decodeAaeExchangeRequest = (body: Uint8Array): E.Either<KvError, AaeExchangeRequest> =>
  run(body, (r) => {
    const partition = r.u16('partition');
    return { partition, peer: r.str('peer') };
  });

/** AAE_EXCHANGE reply: partition u16, peer string, then u32 segmentsCompared, differingSegments, keysDiffering, keysRepaired, u64 bytesSent, u32 tombstonesReaped. */
export const encodeAaeExchangeReply = (a: AaeExchangeReply): Buffer => {
  checkUint('partition', a.partition, MAX_U16);
  strBytes('peer', a.peer);
  for (const f of ['segmentsCompared', 'differingSegments', 'keysDiffering', 'keysRepaired', 'tombstonesReaped'] as const) checkUint(f, a[f], MAX_U32);
  checkUint('bytesSent', a.bytesSent, MAX_COUNTER);
  return new Out()
    .u16(a.partition)
    .str(a.peer)
    .u32(a.segmentsCompared)
    .u32(a.differingSegments)
    .u32(a.keysDiffering)
    .u32(a.keysRepaired)
    .u64(a.bytesSent)
    .u32(a.tombstonesReaped)
    .done();
};

export const decodeAaeExchangeReply = (body: Uint8Array): E.Either<KvError, AaeExchangeReply> =>
  run(body, (r) => {
    const partition = r.u16('partition');
    const peer = r.str('peer');
    const segmentsCompared = r.u32('segmentsCompared');
    const differingSegments = r.u32('differingSegments');
    const keysDiffering = r.u32('keysDiffering');
    const keysRepaired = r.u32('keysRepaired');
    const bytesSent = r.counter('bytesSent');
    return { partition, peer, segmentsCompared, differingSegments, keysDiffering, keysRepaired, bytesSent, tombstonesReaped: r.u32('tombstonesReaped') };
  });

/** AAE_STATUS reply: a u16 count, then per partition: partition u16, lastExchangeMs u64, lastPeer string, lastKeysRepaired u32, keysRepaired u64, tombstones u32. */
export const encodeAaeStatusReply = (list: readonly AaePartitionStatus[]): Buffer => {
  if (list.length > MAX_U16) throw bad(`${list.length} partitions > ${MAX_U16}`);
  const out = new Out().u16(list.length);
  for (const s of list) {
    checkUint('partition', s.partition, MAX_U16);
    checkUint('lastExchangeMs', s.lastExchangeMs, MAX_COUNTER);
    strBytes('lastPeer', s.lastPeer);
    checkUint('lastKeysRepaired', s.lastKeysRepaired, MAX_U32);
    checkUint('keysRepaired', s.keysRepaired, MAX_COUNTER);
    checkUint('tombstones', s.tombstones, MAX_U32);
    out.u16(s.partition).u64(s.lastExchangeMs).str(s.lastPeer).u32(s.lastKeysRepaired).u64(s.keysRepaired).u32(s.tombstones);
  }
  return out.done();
};

export const decodeAaeStatusReply = (body: Uint8Array): E.Either<KvError, readonly AaePartitionStatus[]> =>
  run(body, (r) => {
    const n = r.count('partitions', 2 + 8 + 2 + 4 + 8 + 4);
    const out: AaePartitionStatus[] = [];
    for (let i = 0; i < n; i++) {
      const partition = r.u16('partition');
      const lastExchangeMs = r.counter('lastExchangeMs');
      const lastPeer = r.str('lastPeer');
      const lastKeysRepaired = r.u32('lastKeysRepaired');
      const keysRepaired = r.counter('keysRepaired');
      out.push({ partition, lastExchangeMs, lastPeer, lastKeysRepaired, keysRepaired, tombstones: r.u32('tombstones') });
    }
    return out;
  });
