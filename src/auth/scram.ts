/**
 * SCRAM-SHA-256 (RFC 5802 with the RFC 7677 hash), without channel binding:
 * the client proves it knows the password and the server proves it holds
 * the user's verifier, and neither the password nor anything replayable
 * crosses the wire. The server stores only the salted verifier (StoredKey,
 * ServerKey): a stolen users file does not let anyone log in without first
 * guessing the password through `iterations` rounds of PBKDF2 per guess.
 *
 *   client-first  n,,n=<user>,r=<client nonce>            (HELLO authPayload)
 *   server-first  r=<client+server nonce>,s=<salt>,i=<n>    (AUTH_REPLY)
 *   client-final  c=biws,r=<nonce>,p=<proof>               (AUTH)
 *   server-final  v=<server signature>                     (AUTH_REPLY, then HELLO_OK)
 *
 * User names are restricted to [A-Za-z0-9._@-], so the RFC's `=2C`/`=3D`
 * escapes never arise. The functions are deterministic given their nonces,
 * which is what the test vectors rely on.
 */
import { createHash, createHmac, pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';
import type { UserRole } from './roles.js';

export const SCRAM_MECHANISM = 'SCRAM-SHA-256';
/** RFC 7677's minimum; the cost of one login, paid again by every password guess. */
export const DEFAULT_ITERATIONS = 4096;
export const MIN_ITERATIONS = 1;
export const MAX_ITERATIONS = 10_000_000;
const GS2_HEADER = 'n,,';
/** base64("n,,"): the channel-binding attribute of the client-final message. */
const CHANNEL_BINDING = Buffer.from(GS2_HEADER).toString('base64');

export const USER_NAME = /^[A-Za-z0-9._@-]{1,64}$/;

/** What the server keeps per user: never the password. */
export interface Verifier {
  readonly user: string;
  readonly role: UserRole;
  readonly salt: Buffer;
  readonly iterations: number;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

const hmac = (key: Uint8Array, text: string): Buffer => createHmac('sha256', key).update(text, 'utf8').digest();
const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();
const xor = (a: Uint8Array, b: Uint8Array): Buffer => {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
};

export const saltedPassword = (password: Uint8Array, salt: Uint8Array, iterations: number): Buffer => pbkdf2Sync(password, salt, iterations, 32, 'sha256');

/** The verifier for a password (what `ringkv user add` stores). */
export const makeVerifier = (user: string, role: UserRole, password: Uint8Array, salt: Uint8Array, iterations: number): Verifier => {
  const salted = saltedPassword(password, salt, iterations);
  return { user, role, salt: Buffer.from(salt), iterations, storedKey: sha256(hmac(salted, 'Client Key')), serverKey: hmac(salted, 'Server Key') };
};

/** Attributes of a SCRAM message (`a=...,b=...`); values may contain '='. Left on a malformed message. */
const attributes = (message: string): E.Either<string, ReadonlyMap<string, string>> => {
  const out = new Map<string, string>();
  for (const part of message.split(',')) {
    if (part.length < 2 || part[1] !== '=') return E.left(`malformed attribute ${JSON.stringify(part.slice(0, 20))}`);
    const k = part[0]!;
    if (out.has(k)) return E.left(`attribute ${k} twice`);
    out.set(k, part.slice(2));
  }
  return E.right(out);
};

const NONCE = /^[\x21-\x2b\x2d-\x7e]{8,128}$/; // printable, no ','
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

// ---------------------------------------------------------------- client

export interface ClientFirst {
  readonly message: string;
  /** client-first without the GS2 header: part of the signed AuthMessage. */
  readonly bare: string;
  readonly nonce: string;
}

export const clientFirst = (user: string, nonce: string): ClientFirst => {
  const bare = `n=${user},r=${nonce}`;
  return { message: GS2_HEADER + bare, bare, nonce };
};

export interface ClientFinal {
  readonly message: string;
  /** What the server's final message must carry for the server to be genuine. */
  readonly serverSignature: Buffer;
}

/**
 * The client's answer to server-first. `salted` memoises PBKDF2 (the costly
 * part) across connections: key it by salt and iterations.
 */
export const clientFinal = (
  first: ClientFirst,
  serverFirst: string,
  password: Uint8Array,
  salted: (salt: Buffer, iterations: number) => Buffer = (salt, iterations) => saltedPassword(password, salt, iterations),
): E.Either<string, ClientFinal> => {
  const parsed = attributes(serverFirst);
  if (E.isLeft(parsed)) return parsed;
  const a = parsed.right;
  const nonce = a.get('r');
  const salt = a.get('s');
  const iterText = a.get('i');
  if (nonce === undefined || salt === undefined || iterText === undefined) return E.left('server-first lacks r, s or i');
  if (!nonce.startsWith(first.nonce) || nonce.length <= first.nonce.length || !NONCE.test(nonce)) return E.left('server nonce does not extend the client nonce');
  if (!BASE64.test(salt) || salt.length === 0) return E.left('salt is not base64');
  if (!/^\d{1,8}$/.test(iterText)) return E.left('iterations is not a number');
  const iterations = Number(iterText);
  // A forged server could ask for billions of rounds to burn the client's CPU.
  if (iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) return E.left(`iterations ${iterations} out of range`);
  const key = salted(Buffer.from(salt, 'base64'), iterations);
  const clientKey = hmac(key, 'Client Key');
  const withoutProof = `c=${CHANNEL_BINDING},r=${nonce}`;
  const authMessage = `${first.bare},${serverFirst},${withoutProof}`;
  const proof = xor(clientKey, hmac(sha256(clientKey), authMessage));
  return E.right({ message: `${withoutProof},p=${proof.toString('base64')}`, serverSignature: hmac(hmac(key, 'Server Key'), authMessage) });
};

/** True when server-final proves the server holds the verifier. */
export const verifyServerFinal = (final: ClientFinal, serverFinal: string): boolean => {
  const parsed = attributes(serverFinal);
  if (E.isLeft(parsed)) return false;
  const v = parsed.right.get('v');
  if (v === undefined || !BASE64.test(v)) return false;
  const got = Buffer.from(v, 'base64');
  return got.length === final.serverSignature.length && timingSafeEqual(got, final.serverSignature);
};

// ---------------------------------------------------------------- server

/** Between server-first and client-final. */
export interface ServerState {
  readonly user: string;
  /** undefined for an unknown user: the exchange runs to the end and fails there, like a wrong password. */
  readonly verifier: Verifier | undefined;
  readonly clientFirstBare: string;
  readonly serverFirst: string;
  readonly nonce: string;
}

/**
 * Parses client-first and answers server-first. `lookup` finds the user's
 * verifier; for an unknown user `decoy` supplies a salt and iteration count
 * that stay the same for that name, so the answer does not reveal whether
 * the user exists.
 */
export const serverFirst = (
  clientFirstMessage: string,
  serverNonce: string,
  lookup: (user: string) => Verifier | undefined,
  decoy: (user: string) => { readonly salt: Buffer; readonly iterations: number },
): E.Either<string, { readonly message: string; readonly state: ServerState }> => {
  if (!clientFirstMessage.startsWith(GS2_HEADER)) {
    return E.left(clientFirstMessage.startsWith('p=') || clientFirstMessage.startsWith('y,') ? 'channel binding is not supported' : 'client-first must start with "n,,"');
  }
  const bare = clientFirstMessage.slice(GS2_HEADER.length);
  const parsed = attributes(bare);
  if (E.isLeft(parsed)) return parsed;
  const a = parsed.right;
  const user = a.get('n');
  const clientNonce = a.get('r');
  if (user === undefined || clientNonce === undefined || a.size !== 2 || !bare.startsWith('n=')) return E.left('client-first must be n=<user>,r=<nonce>');
  if (!USER_NAME.test(user)) return E.left('user name must match [A-Za-z0-9._@-]{1,64}');
  if (!NONCE.test(clientNonce)) return E.left('client nonce must be 8..128 printable characters without ","');
  const verifier = lookup(user);
  const { salt, iterations } = verifier ?? decoy(user);
  const nonce = clientNonce + serverNonce;
  const message = `r=${nonce},s=${salt.toString('base64')},i=${iterations}`;
  return E.right({ message, state: { user, verifier, clientFirstBare: bare, serverFirst: message, nonce } });
};

/**
 * Checks client-final; on success returns server-final and the user's role.
 * Every failure of the proof reads the same ("authentication failed") so a
 * client cannot tell a wrong password from an unknown user.
 */
export const serverFinal = (state: ServerState, clientFinalMessage: string): E.Either<string, { readonly message: string; readonly role: UserRole; readonly user: string }> => {
  const parsed = attributes(clientFinalMessage);
  if (E.isLeft(parsed)) return parsed;
  const a = parsed.right;
  const proofText = a.get('p');
  const pAt = clientFinalMessage.lastIndexOf(',p=');
  if (a.get('c') !== CHANNEL_BINDING || a.get('r') !== state.nonce || proofText === undefined || pAt < 0 || !BASE64.test(proofText)) {
    return E.left('client-final must be c=biws,r=<the nonce>,p=<proof>');
  }
  const authMessage = `${state.clientFirstBare},${state.serverFirst},${clientFinalMessage.slice(0, pAt)}`;
  const proof = Buffer.from(proofText, 'base64');
  const v = state.verifier;
  // Run the same computation for an unknown user, against a key nobody has.
  const storedKey = v?.storedKey ?? Buffer.alloc(32);
  const clientKey = xor(proof.length === 32 ? proof : Buffer.alloc(32), hmac(storedKey, authMessage));
  const ok = timingSafeEqual(sha256(clientKey), storedKey) && proof.length === 32 && v !== undefined;
  if (!ok) return E.left('authentication failed');
  return E.right({ message: `v=${hmac(v.serverKey, authMessage).toString('base64')}`, role: v.role, user: v.user });
};
