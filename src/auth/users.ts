/**
 * Users of one node: `<data>/users.json`, holding per user only the SCRAM
 * verifier (salt, iterations, StoredKey, ServerKey) and the role — never a
 * password. Written atomically (temporary file + rename, mode 0600), so
 * `ringkv user add` may run against the data directory of a running node;
 * the node notices the new file at the next handshake.
 *
 * Users are per node, not gossiped: copy users.json to every node (the
 * README's "Securing a cluster" says how). A gossiped user table would let
 * any node that holds the cluster secret mint admin users everywhere.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KvError } from '../errors.js';
import { isUserRole, type UserRole } from './roles.js';
import { DEFAULT_ITERATIONS, MAX_ITERATIONS, MIN_ITERATIONS, USER_NAME, makeVerifier, type Verifier } from './scram.js';
import type { Secret } from './secret.js';

export const USERS_FILE = 'users.json';
export const usersPath = (dataDir: string): string => join(dataDir, USERS_FILE);

interface UserJson {
  readonly user: string;
  readonly role: string;
  readonly iterations: number;
  readonly salt: string;
  readonly storedKey: string;
  readonly serverKey: string;
}

const toJson = (v: Verifier): UserJson => ({
  user: v.user,
  role: v.role,
  iterations: v.iterations,
  salt: v.salt.toString('base64'),
  storedKey: v.storedKey.toString('base64'),
  serverKey: v.serverKey.toString('base64'),
});

const fromJson = (u: unknown, path: string): Verifier => {
  const o = u as Partial<UserJson>;
  const bad = (why: string) => new KvError('KV_CORRUPTION', `${path}: user ${JSON.stringify(o?.user)}: ${why}`);
  if (typeof o !== 'object' || o === null || typeof o.user !== 'string' || !USER_NAME.test(o.user)) throw bad('bad name');
  if (!isUserRole(o.role)) throw bad(`role must be read, readwrite or admin`);
  if (typeof o.iterations !== 'number' || !Number.isInteger(o.iterations) || o.iterations < MIN_ITERATIONS || o.iterations > MAX_ITERATIONS) throw bad('bad iterations');
  const b64 = (name: 'salt' | 'storedKey' | 'serverKey', len?: number): Buffer => {
    const s = o[name];
    if (typeof s !== 'string') throw bad(`${name} missing`);
    const b = Buffer.from(s, 'base64');
    if ((len !== undefined && b.length !== len) || b.length === 0) throw bad(`${name} malformed`);
    return b;
  };
  return { user: o.user, role: o.role, iterations: o.iterations, salt: b64('salt'), storedKey: b64('storedKey', 32), serverKey: b64('serverKey', 32) };
};

/** The users in `path`; none when the file does not exist. Throws KV_CORRUPTION on a malformed file. */
export const readUsers = (path: string): readonly Verifier[] => {
  if (!existsSync(path)) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new KvError('KV_CORRUPTION', `${path}: ${(e as Error).message}`);
  }
  const users = (parsed as { users?: unknown })?.users;
  if (!Array.isArray(users)) throw new KvError('KV_CORRUPTION', `${path}: expected {"version":1,"users":[...]}`);
  return users.map((u) => fromJson(u, path));
};

export const writeUsers = (path: string, users: readonly Verifier[]): void => {
  const tmp = `${path}.${process.pid}.tmp`;
  const body = JSON.stringify({ version: 1, users: [...users].sort((a, b) => (a.user < b.user ? -1 : 1)).map(toJson) }, null, 2) + '\n';
  writeFileSync(tmp, body, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
};

/** Adds a user or replaces its password and role; returns whether it existed. */
export const addUser = (dataDir: string, user: string, role: UserRole, password: Secret, iterations = DEFAULT_ITERATIONS): boolean => {
  if (!USER_NAME.test(user)) throw new KvError('KV_BAD_ARGUMENT', 'user name must be 1..64 of [A-Za-z0-9._@-]');
  if (!isUserRole(role)) throw new KvError('KV_BAD_ARGUMENT', 'role must be read, readwrite or admin');
  if (password.length === 0) throw new KvError('KV_BAD_ARGUMENT', 'the password is empty');
  if (!Number.isInteger(iterations) || iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
    throw new KvError('KV_BAD_ARGUMENT', `iterations must be in ${MIN_ITERATIONS}..${MAX_ITERATIONS}`);
  }
  const path = usersPath(dataDir);
  const users = readUsers(path);
  const existed = users.some((u) => u.user === user);
  const v = makeVerifier(user, role, password.reveal(), randomBytes(16), iterations);
  writeUsers(path, [...users.filter((u) => u.user !== user), v]);
  return existed;
};

/** Removes a user; false when there was none of that name. */
export const removeUser = (dataDir: string, user: string): boolean => {
  const path = usersPath(dataDir);
  const users = readUsers(path);
  const kept = users.filter((u) => u.user !== user);
  if (kept.length === users.length) return false;
  writeUsers(path, kept);
  return true;
};

export const listUsers = (dataDir: string): readonly { readonly user: string; readonly role: UserRole; readonly iterations: number }[] =>
  readUsers(usersPath(dataDir)).map((u) => ({ user: u.user, role: u.role, iterations: u.iterations }));

/**
 * The node's view of its users file, re-read when the file changes (checked
 * at each handshake: one stat per connection, none per request). A file that
 * turns malformed keeps the last good table and is reported once.
 */
export class UserStore {
  private users: ReadonlyMap<string, Verifier> = new Map();
  private stamp = '';
  /** Decoy salts for unknown users derive from this, so they stay stable per name within a run. */
  private readonly decoyKey = randomBytes(32);

  constructor(
    readonly path: string,
    private readonly log: (level: 'warn', msg: string) => void = () => undefined,
  ) {
    this.refresh();
  }

  get size(): number {
    this.refresh();
    return this.users.size;
  }

  lookup(user: string): Verifier | undefined {
    this.refresh();
    return this.users.get(user);
  }

  decoy(user: string): { readonly salt: Buffer; readonly iterations: number } {
    return { salt: createHmac('sha256', this.decoyKey).update(user).digest().subarray(0, 16), iterations: DEFAULT_ITERATIONS };
  }

  private refresh(): void {
    let stamp: string;
    try {
      const st = statSync(this.path);
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      stamp = 'absent';
    }
    if (stamp === this.stamp) return;
    try {
      this.users = new Map(readUsers(this.path).map((u) => [u.user, u]));
      this.stamp = stamp;
    } catch (e) {
      if (this.stamp !== `bad:${stamp}`) this.log('warn', `users file not reloaded, keeping the previous users: ${(e as Error).message}`);
      this.stamp = `bad:${stamp}`;
    }
  }
}
