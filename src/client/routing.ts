/**
 * The client's routing table: the ring a node answered to RING, turned into
 * each partition's preference list of addresses, so the SDK can send a
 * request straight to a node that holds the key (issue 6, client-driven
 * coordination) instead of having any node forward it.
 *
 * The partition is computed exactly as the nodes compute it (the native
 * xxh3-64 `partitionOf`, top qBits bits, as src/node/replica.ts does) and the
 * preference list is core/ring's walk over the owners, so a client and a node
 * that share a ring agree on every key's targets.
 */
import * as E from 'fp-ts/lib/Either.js';
import { decodeRingBody, type RingBody } from '../../protocol/peer.js';
import { makeRing, preferenceList } from '../core/ring.js';
import { partitionOfUnchecked } from '../native/addon.js';

export interface RouteTable {
  readonly ringVersion: bigint;
  readonly qBits: number;
  readonly n: number;
  /** prefs[p]: addresses (`host:port`) of partition p's preference list, in walk order; members without an address are left out. */
  readonly prefs: readonly (readonly string[])[];
  /** Every member address the ring names. */
  readonly addresses: readonly string[];
}

/** The routing table of a RING_REPLY body. */
export const routeTableOf = (body: RingBody): RouteTable => {
  const ids = body.owners.map((i) => body.members[i]!.id);
  const ring = makeRing(ids);
  const addressOf = new Map(body.members.map((m) => [m.id, m.address]));
  const prefs = new Array<readonly string[]>(ring.partitionCount);
  for (let p = 0; p < ring.partitionCount; p++) {
    const list: string[] = [];
    for (const id of preferenceList(ring, p, body.n)) {
      const a = addressOf.get(id) ?? '';
      if (a !== '') list.push(a);
    }
    prefs[p] = Object.freeze(list);
  }
  const addresses = body.members.map((m) => m.address).filter((a) => a !== '');
  return { ringVersion: body.ringVersion, qBits: body.qBits, n: body.n, prefs, addresses };
};

/** Decodes a RING_REPLY body into a routing table, or the reason it cannot be one. */
export const routeTableFromReply = (body: Uint8Array): E.Either<Error, RouteTable> => {
  const decoded = decodeRingBody(body);
  if (E.isLeft(decoded)) return decoded;
  try {
    return E.right(routeTableOf(decoded.right));
  } catch (e) {
    return E.left(e as Error);
  }
};

/** The key's partition, as every node computes it. */
export const partitionOfKey = (table: RouteTable, key: Uint8Array): number => partitionOfUnchecked(key, table.qBits);

/** The addresses of the key's preference list (first = the first owner of its partition). */
export const targetsOf = (table: RouteTable, key: Uint8Array): readonly string[] => table.prefs[partitionOfKey(table, key)]!;
