/**
 * The acceptor's side of authentication inside the handshake, one object per
 * connection: HELLO starts it, each AUTH steps it, and it ends in a role or
 * a KV_AUTH error (after which the server sends ERROR on stream 0 and closes).
 */
import { randomBytes } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';
import type { Hello, RoleName } from '../../protocol/index.js';
import { KvError } from '../errors.js';
import { NODE_MECHANISM, NONCE_BYTES, acceptorChallenge, verifyInitiator, type ClusterKey } from './node_auth.js';
import type { UserRole } from './roles.js';
import { SCRAM_MECHANISM, serverFinal, serverFirst, type ServerState } from './scram.js';
import type { UserStore } from './users.js';

/** What a server requires; an absent part means that kind of peer needs no authentication (as before #9). */
export interface AcceptorSecurity {
  /** Clients must log in as one of these users (SCRAM-SHA-256). */
  readonly users?: UserStore;
  /** Peers (HELLO role `node`) must prove they hold the cluster secret. */
  readonly clusterKey?: ClusterKey;
}

/** The mechanism a HELLO of `role` must name ('' = none). */
export const mechanismFor = (security: AcceptorSecurity, role: RoleName): string =>
  role === 'client' ? (security.users !== undefined ? SCRAM_MECHANISM : '') : security.clusterKey !== undefined ? NODE_MECHANISM : '';

export interface Authenticated {
  readonly role: UserRole;
  /** The user name, or `node:<id>` for a peer. */
  readonly principal: string;
  /** A last AUTH_REPLY to send before HELLO_OK (SCRAM's server-final). */
  readonly finalPayload: Uint8Array | undefined;
}

export type Step = { readonly done: false; readonly payload: Uint8Array } | ({ readonly done: true } & Authenticated);

const fail = (why: string): E.Either<KvError, never> => E.left(new KvError('KV_AUTH', why));
const utf8 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('utf8');

export class AcceptorAuth {
  private scram: ServerState | undefined;
  private nodeNonces: { readonly initiator: Buffer; readonly acceptor: Buffer } | undefined;
  private finished = false;

  private constructor(
    private readonly security: AcceptorSecurity,
    private readonly hello: Hello,
    private readonly random: (n: number) => Buffer,
  ) {}

  /**
   * Starts the exchange a HELLO asked for (its mechanism was already checked
   * against `mechanismFor`) and returns the first AUTH_REPLY payload.
   */
  static start(security: AcceptorSecurity, hello: Hello, random: (n: number) => Buffer = randomBytes): E.Either<KvError, { readonly auth: AcceptorAuth; readonly payload: Uint8Array }> {
    const auth = new AcceptorAuth(security, hello, random);
    const first = auth.begin();
    return E.isLeft(first) ? first : E.right({ auth, payload: first.right });
  }

  private begin(): E.Either<KvError, Uint8Array> {
    const { hello, security } = this;
    if (hello.authMechanism === SCRAM_MECHANISM && security.users !== undefined) {
      const users = security.users;
      const r = serverFirst(utf8(hello.authPayload), this.random(18).toString('base64'), (u) => users.lookup(u), (u) => users.decoy(u));
      if (E.isLeft(r)) return fail(r.left);
      this.scram = r.right.state;
      return E.right(Buffer.from(r.right.message, 'utf8'));
    }
    if (hello.authMechanism === NODE_MECHANISM && security.clusterKey !== undefined) {
      const initiator = Buffer.from(hello.authPayload);
      const acceptor = this.random(NONCE_BYTES);
      const payload = acceptorChallenge(security.clusterKey, initiator, acceptor, hello.nodeId);
      if (payload === null) return fail(`${NODE_MECHANISM} needs a ${NONCE_BYTES}-byte nonce`);
      this.nodeNonces = { initiator, acceptor };
      return E.right(payload);
    }
    return fail(`auth mechanism ${JSON.stringify(hello.authMechanism)} not supported here`);
  }

  /** The initiator's AUTH. Every exchange here takes exactly one. */
  step(payload: Uint8Array): E.Either<KvError, Step> {
    if (this.finished) return fail('authentication already finished');
    this.finished = true;
    if (this.scram !== undefined) {
      const r = serverFinal(this.scram, utf8(payload));
      if (E.isLeft(r)) return fail(r.left);
      return E.right({ done: true, role: r.right.role, principal: r.right.user, finalPayload: Buffer.from(r.right.message, 'utf8') });
    }
    const nonces = this.nodeNonces;
    const key = this.security.clusterKey;
    if (nonces !== undefined && key !== undefined && verifyInitiator(key, nonces.initiator, nonces.acceptor, this.hello.nodeId, payload)) {
      return E.right({ done: true, role: 'admin', principal: `node:${this.hello.nodeId}`, finalPayload: undefined });
    }
    return fail('cluster secret proof failed');
  }
}
