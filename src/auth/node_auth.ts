/**
 * Node authentication: a mutual HMAC-SHA-256 challenge-response over the
 * cluster secret, run inside the HELLO handshake of a role-`node` connection
 * (PROTOCOL.md §17.3).
 *
 *   initiator → HELLO      mechanism RINGKV-NODE-HMAC-SHA-256, payload nI (32 random bytes)
 *   acceptor  → AUTH_REPLY nA (32 random bytes) ‖ HMAC(K, "acceptor" ‖ nI ‖ nA ‖ initiatorId)
 *   initiator → AUTH       HMAC(K, "initiator" ‖ nI ‖ nA ‖ initiatorId)
 *   acceptor  → HELLO_OK
 *
 * K = HMAC-SHA-256(cluster secret, "ringkv cluster key v1"). Each side proves
 * it holds K over a nonce the other just drew, so a recorded exchange cannot
 * be replayed; the labels differ per direction, so a proof cannot be
 * reflected back at its sender. The initiator checks the acceptor's proof
 * before it answers, so a process without the secret that accepts a
 * connection learns nothing and receives no replica, hint or gossip frame.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Secret } from './secret.js';

export const NODE_MECHANISM = 'RINGKV-NODE-HMAC-SHA-256';
export const NONCE_BYTES = 32;
export const PROOF_BYTES = 32;
/** A cluster secret shorter than this is refused at startup: it could be guessed offline from one recorded exchange. */
export const MIN_CLUSTER_SECRET_BYTES = 16;

export type ClusterKey = Buffer & { readonly __clusterKey: true };

export const clusterKey = (secret: Secret): ClusterKey => createHmac('sha256', secret.reveal()).update('ringkv cluster key v1').digest() as ClusterKey;

const proof = (key: ClusterKey, label: 'acceptor' | 'initiator', initiatorNonce: Uint8Array, acceptorNonce: Uint8Array, initiatorId: string): Buffer => {
  const id = Buffer.from(initiatorId, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(Math.min(id.length, 0xffff));
  return createHmac('sha256', key).update(label).update(initiatorNonce).update(acceptorNonce).update(len).update(id).digest();
};

const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && timingSafeEqual(a, b);

/** Acceptor: the AUTH_REPLY payload answering HELLO's nonce, or null when the nonce is malformed. */
export const acceptorChallenge = (key: ClusterKey, initiatorNonce: Uint8Array, acceptorNonce: Uint8Array, initiatorId: string): Buffer | null => {
  if (initiatorNonce.length !== NONCE_BYTES || acceptorNonce.length !== NONCE_BYTES) return null;
  return Buffer.concat([acceptorNonce, proof(key, 'acceptor', initiatorNonce, acceptorNonce, initiatorId)]);
};

/**
 * Initiator: checks the acceptor's AUTH_REPLY and returns the AUTH payload,
 * or null when the acceptor did not prove it holds the secret.
 */
export const initiatorResponse = (key: ClusterKey, initiatorNonce: Uint8Array, reply: Uint8Array, initiatorId: string): Buffer | null => {
  if (reply.length !== NONCE_BYTES + PROOF_BYTES) return null;
  const acceptorNonce = reply.subarray(0, NONCE_BYTES);
  if (!same(reply.subarray(NONCE_BYTES), proof(key, 'acceptor', initiatorNonce, acceptorNonce, initiatorId))) return null;
  return proof(key, 'initiator', initiatorNonce, acceptorNonce, initiatorId);
};

/** Acceptor: true when the initiator's AUTH payload proves it holds the secret. */
export const verifyInitiator = (key: ClusterKey, initiatorNonce: Uint8Array, acceptorNonce: Uint8Array, initiatorId: string, payload: Uint8Array): boolean =>
  same(payload, proof(key, 'initiator', initiatorNonce, acceptorNonce, initiatorId));
