/**
 * The initiator's side of authentication inside the handshake (SDK
 * connections and peer links): what HELLO carries, what to answer each
 * AUTH_REPLY with, and whether the acceptor has proved itself — HELLO_OK is
 * accepted only then, so a node that skips the exchange (an impostor) is
 * refused rather than trusted.
 */
import { randomBytes } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';
import { KvError } from '../errors.js';
import { NODE_MECHANISM, NONCE_BYTES, initiatorResponse, type ClusterKey } from './node_auth.js';
import { SCRAM_MECHANISM, USER_NAME, clientFinal, clientFirst, saltedPassword, verifyServerFinal, type ClientFinal, type ClientFirst } from './scram.js';
import type { Secret } from './secret.js';

export interface InitiatorAuth {
  readonly mechanism: string;
  readonly helloPayload: Uint8Array;
  /** The AUTH payload answering an AUTH_REPLY, or undefined when nothing is to be sent. */
  onReply(payload: Uint8Array): E.Either<KvError, Uint8Array | undefined>;
  /** True once the acceptor proved it holds the user's verifier / the cluster secret. */
  readonly acceptorVerified: boolean;
}

const fail = (why: string): E.Either<KvError, never> => E.left(new KvError('KV_AUTH', why));

export interface UserCredentials {
  readonly user: string;
  readonly password: Secret;
}

/** PBKDF2 results per (salt, iterations), so a pool of connections pays the key stretching once. */
export type SaltedCache = Map<string, Buffer>;

export class ScramInitiator implements InitiatorAuth {
  readonly mechanism = SCRAM_MECHANISM;
  readonly helloPayload: Uint8Array;
  private readonly first: ClientFirst;
  private final: ClientFinal | undefined;
  private verified = false;

  constructor(
    private readonly credentials: UserCredentials,
    private readonly cache: SaltedCache = new Map(),
    nonce: string = randomBytes(18).toString('base64'),
  ) {
    if (!USER_NAME.test(credentials.user)) throw new KvError('KV_BAD_ARGUMENT', 'user name must be 1..64 of [A-Za-z0-9._@-]');
    this.first = clientFirst(credentials.user, nonce);
    this.helloPayload = Buffer.from(this.first.message, 'utf8');
  }

  get acceptorVerified(): boolean {
    return this.verified;
  }

  onReply(payload: Uint8Array): E.Either<KvError, Uint8Array | undefined> {
    const text = Buffer.from(payload).toString('utf8');
    if (this.final === undefined) {
      const password = this.credentials.password.reveal();
      const r = clientFinal(this.first, text, password, (salt, iterations) => {
        const k = `${salt.toString('base64')}:${iterations}`;
        let v = this.cache.get(k);
        if (v === undefined) this.cache.set(k, (v = saltedPassword(password, salt, iterations)));
        return v;
      });
      if (E.isLeft(r)) return fail(r.left);
      this.final = r.right;
      return E.right(Buffer.from(r.right.message, 'utf8'));
    }
    if (this.verified || !verifyServerFinal(this.final, text)) return fail('the node did not prove it holds this user\'s verifier');
    this.verified = true;
    return E.right(undefined);
  }
}

export class NodeInitiator implements InitiatorAuth {
  readonly mechanism = NODE_MECHANISM;
  readonly helloPayload: Buffer;
  private verified = false;

  constructor(
    private readonly key: ClusterKey,
    private readonly nodeId: string,
    nonce: Buffer = randomBytes(NONCE_BYTES),
  ) {
    this.helloPayload = nonce;
  }

  get acceptorVerified(): boolean {
    return this.verified;
  }

  onReply(payload: Uint8Array): E.Either<KvError, Uint8Array | undefined> {
    if (this.verified) return fail('unexpected AUTH_REPLY');
    const answer = initiatorResponse(this.key, this.helloPayload, payload, this.nodeId);
    if (answer === null) return fail('the peer did not prove it holds the cluster secret');
    this.verified = true;
    return E.right(answer);
  }
}
