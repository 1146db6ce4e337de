/**
 * The ringkv client: a small pool of multiplexed connections over the nodes
 * it is given, with timeouts, AbortSignal, reconnection with backoff, safe
 * retries of requests that were never written, and read-modify-write with
 * sibling resolution.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Message, Reply } from '../../protocol/index.js';
import { packageVersion } from '../util/package_root.js';
import {
  decodeAaeExchangeReply,
  decodeAaeStatusReply,
  encodeAaeExchangeRequest,
  type AaeExchangeReply,
  type AaePartitionStatus,
} from '../../protocol/aae_admin.js';
import { exponentialBackoff, type BackoffPolicy } from './backoff.js';
import { Connection } from './connection.js';
import { ClientError } from './errors.js';
import { partitionOfKey, routeTableFromReply, type RouteTable } from './routing.js';
import { ScramInitiator, type InitiatorAuth, type SaltedCache } from '../auth/initiator.js';
import { Secret, readSecretFile } from '../auth/secret.js';
import type { ClientTlsOptions } from './tls.js';

export type Bytes = Uint8Array | string;

/** Picks one value from concurrent siblings (e.g. the union of two shopping carts). */
export type Resolver = (siblings: readonly Buffer[]) => Uint8Array | string;

export interface ClientOptions {
  /** Nodes to talk to, as `host:port`. At least one. */
  readonly nodes: readonly string[];
  /** Default per-request timeout. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Time allowed for TCP connect + HELLO. Default 3000 ms. */
  readonly connectTimeoutMs?: number;
  /** Connections per node. Default 1 (each is multiplexed). */
  readonly connectionsPerNode?: number;
  /** How often a request that was never written (or refused for load) is sent again. Default 2. */
  readonly retries?: number;
  /** Reconnection delays. Default exponential 50 ms .. 5 s with full jitter. */
  readonly backoff?: BackoffPolicy;
  /** Default resolver for `update` when siblings exist. */
  readonly resolver?: Resolver;
  /** Sent in HELLO for the node's logs. Default `ringkv-js/<version>`. */
  readonly clientName?: string;
  /** Largest reply frame accepted. Default 64 MiB. */
  readonly maxFrameBytes?: number;
  /**
   * Where requests go. `client` (the default): the client fetches the ring
   * (RING) and sends each request to a node in the key's preference list, so
   * no node has to forward it; a standalone node (no ring) is used as `any`.
   * `any`: round-robin over the nodes given, each forwards as needed.
   */
  readonly routing?: 'client' | 'any';
  /** How often the ring is fetched again to notice membership changes (client routing). Default 2000 ms. */
  readonly ringRefreshMs?: number;
  /**
   * Log in as this user (SCRAM-SHA-256; the password never crosses the
   * wire). Default: env RINGKV_USER; none = no authentication.
   */
  readonly user?: string;
  /** The user's password. Default: `passwordFile`, else env RINGKV_PASSWORD, else the file named by env RINGKV_PASSWORD_FILE. */
  readonly password?: string | Secret;
  readonly passwordFile?: string;
  /**
   * Connect with TLS (nodes started with `--tls-cert`). `{}` trusts the
   * system's root CAs; pass `ca` for a private CA, `cert`/`key` for nodes
   * that require client certificates. Default: plaintext.
   */
  readonly tls?: ClientTlsOptions;
}

export interface RequestOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface GetOptions extends RequestOptions {
  /** Read quorum for this request (cluster); default: the node's. */
  readonly r?: number;
}

export interface PutOptions extends RequestOptions {
  /** The context of the read this write is based on; without it the write adds a sibling. */
  readonly context?: Uint8Array;
  /** Write quorum for this request (cluster); default: the node's. */
  readonly w?: number;
}

export interface UpdateOptions extends PutOptions {
  /** Resolves siblings before `fn` sees the value. Default: the client's, else fail with KV_CONFLICT. */
  readonly resolver?: Resolver;
}

export interface Sibling {
  readonly value: Buffer;
  /** A concurrent delete. */
  readonly tombstone: boolean;
}

export interface GetResult {
  /** The live values: one normally, more when concurrent writes made siblings. */
  readonly values: readonly Buffer[];
  /** Every sibling, tombstones included. */
  readonly siblings: readonly Sibling[];
  /** Opaque causal context: pass it to the put/delete that follows this read. */
  readonly context: Uint8Array;
}

export interface WriteResult {
  /** Context of the version just written (to write again without a read). */
  readonly context: Uint8Array;
}

const EMPTY = new Uint8Array(0);
/** The options of a call that passed none (a default `{}` would be a new object per request). */
const NO_OPTIONS: PutOptions & GetOptions = Object.freeze({});

const toBytes = (name: string, v: Bytes): Uint8Array => {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof Uint8Array) return v;
  throw new TypeError(`${name} must be a string, Buffer or Uint8Array`);
};

const unexpected = (reply: Reply): ClientError => new ClientError('KV_BAD_FRAME', `unexpected reply ${reply.op}`);

/**
 * A copy of `b` in a Buffer of its own: decoded reply bytes are views of the
 * socket's chunk, and a kept 100-byte value must not pin or alias a 64 KiB
 * chunk. Small copies come from Buffer's shared pool (Uint8Array#slice would
 * allocate an ArrayBuffer per copy; one copy cut into views costs a Buffer
 * per view on top); Buffer.from's type dispatch made it ~1.4x slower.
 */
const copyBytes = (b: Uint8Array): Buffer => {
  const out = Buffer.allocUnsafe(b.length);
  out.set(b);
  return out;
};

const toGetResult = (reply: Reply): GetResult => {
  if (reply.op !== 'GET_REPLY') throw unexpected(reply);
  const src = reply.siblings;
  const n = src.length;
  const siblings = new Array<Sibling>(n);
  const values: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const s = src[i]!;
    const value = copyBytes(s.value);
    siblings[i] = { value, tombstone: s.tombstone };
    if (!s.tombstone) values.push(value);
  }
  return { values, siblings, context: copyBytes(reply.context) };
};

const asReply = (reply: Reply): Reply => reply;

const toPresentGetResult = (reply: Reply): GetResult | undefined => {
  const r = toGetResult(reply);
  return r.values.length === 0 ? undefined : r;
};

/** A copy of a reply's context (see toGetResult). */
const copyContext = (context: Uint8Array): Uint8Array => copyBytes(context);

const toPutResult = (reply: Reply): WriteResult => {
  if (reply.op !== 'PUT_REPLY') throw unexpected(reply);
  return { context: copyContext(reply.context) };
};

const toDeleteResult = (reply: Reply): WriteResult => {
  if (reply.op !== 'DELETE_REPLY') throw unexpected(reply);
  return { context: copyContext(reply.context) };
};

const parseNode = (s: string): { host: string; port: number } => {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || m[1] === '' || !(port > 0 && port < 65536)) throw new TypeError(`node address must be host:port, got '${s}'`);
  return { host: m[1]!, port };
};

interface Endpoint {
  readonly host: string;
  /** Named by the ring only (not a seed the application gave). */
  readonly learned: boolean;
  readonly port: number;
  readonly name: string;
  conns: Connection[];
  connecting: Promise<void> | undefined;
  delays: Iterator<number, void>;
  retryAt: number;
  lastError: ClientError | undefined;
}

export class Client {
  private readonly endpoints: Endpoint[];
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly perNode: number;
  private readonly retries: number;
  private readonly backoff: BackoffPolicy;
  private readonly resolver: Resolver | undefined;
  private readonly clientName: string;
  private readonly maxFrameBytes: number;
  private readonly tls: ClientTlsOptions | undefined;
  private rr = 0;
  private closed = false;
  private readonly byName = new Map<string, Endpoint>();
  private readonly routingOption: 'client' | 'any';
  private readonly ringRefreshMs: number;
  /** The ring's routing table (client routing); undefined until the first RING answer, and always for `any`. */
  private table: RouteTable | undefined;
  /** prefs[p] of `table`, as endpoints. */
  private prefEndpoints: readonly (readonly Endpoint[])[] = [];
  /** False once a node answered RING with KV_UNSUPPORTED (a standalone node): route as `any`. */
  private ringServed = true;
  private ringFetch: Promise<void> | undefined;
  /** Date.now() from which the next request triggers a ring fetch. */
  private ringCheckAtMs = 0;
  /** Spreads requests over equally loaded targets. */
  private spread = 0;
  private readonly auth: (() => InitiatorAuth) | undefined;

  constructor(options: ClientOptions) {
    if (!Array.isArray(options.nodes) || options.nodes.length === 0) throw new TypeError('nodes must list at least one host:port');
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 3000;
    this.perNode = options.connectionsPerNode ?? 1;
    this.retries = options.retries ?? 2;
    this.backoff = options.backoff ?? exponentialBackoff();
    this.resolver = options.resolver;
    this.clientName = options.clientName ?? `ringkv-js/${packageVersion()}`;
    this.maxFrameBytes = options.maxFrameBytes ?? 64 * 1024 * 1024;
    this.tls = options.tls;
    for (const [name, v] of [['timeoutMs', this.timeoutMs], ['connectTimeoutMs', this.connectTimeoutMs]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new TypeError(`${name} must be a positive integer`);
    }
    if (!Number.isInteger(this.perNode) || this.perNode < 1) throw new TypeError('connectionsPerNode must be a positive integer');
    this.auth = credentialsFrom(options, process.env);
    this.routingOption = options.routing ?? 'client';
    if (this.routingOption !== 'client' && this.routingOption !== 'any') throw new TypeError("routing must be 'client' or 'any'");
    this.ringRefreshMs = options.ringRefreshMs ?? 2000;
    if (this.routingOption === 'any') this.ringCheckAtMs = Infinity;
    if (!Number.isInteger(this.ringRefreshMs) || this.ringRefreshMs <= 0) throw new TypeError('ringRefreshMs must be a positive integer');
    this.endpoints = [];
    for (const s of options.nodes) {
      const { host, port } = parseNode(s);
      this.endpointOf(host, port, false);
    }
  }

  private endpointOf(host: string, port: number, learned: boolean): Endpoint {
    const name = `${host}:${port}`;
    const known = this.byName.get(name);
    if (known !== undefined) return known;
    const e: Endpoint = { host, port, name, learned, conns: [], connecting: undefined, delays: this.backoff(), retryAt: 0, lastError: undefined };
    this.byName.set(name, e);
    // Requests without a route (and STATS/PING) go to the nodes the application named, never to one the ring taught.
    if (!learned) this.endpoints.push(e);
    return e;
  }

  /** How requests are routed now: `client` once a ring is known, `any` before that, for a standalone node, or when asked. */
  get routing(): 'client' | 'any' {
    return this.table !== undefined ? 'client' : 'any';
  }

  /** The version of the ring this client routes by (client routing), else undefined. */
  get ringVersion(): bigint | undefined {
    return this.table?.ringVersion;
  }

  /** Addresses of the key's preference list as this client's ring has it (empty before a ring is known). */
  targetsOf(key: Bytes): readonly string[] {
    const t = this.table;
    if (t === undefined) return [];
    return t.prefs[partitionOfKey(t, toBytes('key', key))]!;
  }

  /**
   * Fetches the ring now (client routing) and resolves once it is installed
   * or the attempt failed; false when no ring is served (standalone node,
   * routing 'any') or no node answered.
   */
  async refreshRing(): Promise<boolean> {
    if (this.routingOption === 'any' || !this.ringServed) return false;
    if (this.readyConnection() === undefined) {
      try {
        await this.connection(this.connectTimeoutMs);
      } catch {
        return false;
      }
    }
    this.ringCheckAtMs = 0;
    this.maybeRefreshRing(Date.now());
    await this.ringFetch;
    return this.table !== undefined;
  }

  /**
   * Installs a routing table from a RING_REPLY body. Exposed for tests that
   * need a stale or wrong table (the nodes must still answer correctly).
   * @internal
   */
  useRing(body: Uint8Array): void {
    const t = routeTableFromReply(body);
    if (E.isLeft(t)) throw new ClientError('KV_BAD_FRAME', `bad RING reply: ${t.left.message}`);
    this.install(t.right);
  }

  private install(t: RouteTable): void {
    const prefs = t.prefs.map((list) =>
      list.map((a) => {
        const { host, port } = parseNode(a);
        return this.endpointOf(host, port, true);
      }),
    );
    this.table = t;
    this.prefEndpoints = prefs;
  }

  /** Starts a background RING fetch when one is due (at most one at a time). */
  private maybeRefreshRing(nowMs: number): void {
    if (this.routingOption === 'any' || !this.ringServed || this.closed || this.ringFetch !== undefined || nowMs < this.ringCheckAtMs) return;
    const conn = this.readyConnection() ?? this.anyOpenConnection();
    if (conn === undefined) return;
    this.ringCheckAtMs = nowMs + this.ringRefreshMs;
    this.ringFetch = conn
      .requestOwned({ op: 'RING', streamId: 0, body: EMPTY }, this.timeoutMs)
      .then(
        (reply) => {
          if (reply.op !== 'RING_REPLY') return;
          const t = routeTableFromReply(reply.body);
          if (E.isRight(t) && t.right.ringVersion !== this.table?.ringVersion) this.install(t.right);
        },
        (e: unknown) => {
          if (e instanceof ClientError && e.code === 'KV_UNSUPPORTED') {
            this.ringServed = false;
            this.ringCheckAtMs = Infinity;
            this.table = undefined;
            this.prefEndpoints = [];
          } else {
            // A ring that is changing (KV_UNAVAILABLE) or a lost node: ask again soon.
            this.ringCheckAtMs = Date.now() + Math.min(100, this.ringRefreshMs);
          }
        },
      )
      .finally(() => {
        this.ringFetch = undefined;
      });
  }

  /** Any open connection, to a named or a learned node (the ring can be asked of any member). */
  private anyOpenConnection(): Connection | undefined {
    for (const e of this.byName.values()) for (const c of e.conns) if (c.isOpen) return c;
    return undefined;
  }

  /** A node announced a ring version (HELLO_OK); fetch the ring when it is not the one routed by. */
  private sawRingVersion(version: bigint): void {
    if (version === 0n || version === this.table?.ringVersion) return;
    this.ringCheckAtMs = 0;
    this.maybeRefreshRing(Date.now());
  }

  /** A node that could not answer (unavailable, timed out, gone) may have left the ring: check it soon, retried or not. */
  private suspectRingAfter(err: unknown): void {
    if (err instanceof ClientError && (err.code === 'KV_UNAVAILABLE' || err.code === 'KV_TIMEOUT' || err.safeToRetry)) this.suspectRing();
  }

  /** Something went wrong with a node: the ring may have changed, check it soon (at most every 100 ms). */
  private suspectRing(): void {
    if (this.table === undefined) return;
    const soonMs = Date.now() + Math.min(100, this.ringRefreshMs);
    if (this.ringCheckAtMs > soonMs) this.ringCheckAtMs = soonMs;
  }

  /** Reads a key: every sibling and the context, or undefined when absent or deleted. */
  get(key: Bytes, options: GetOptions = NO_OPTIONS): Promise<GetResult | undefined> {
    return this.getAs(key, options, toPresentGetResult);
  }

  /** Like `get`, but answers an absent or deleted key with empty values and the context (for writes after a delete). */
  // get/getRaw/put/delete are not `async` (one promise and one await fewer
  // per request); argument errors still reject rather than throw.
  getRaw(key: Bytes, options: GetOptions = NO_OPTIONS): Promise<GetResult> {
    return this.getAs(key, options, toGetResult);
  }

  private getAs<T>(key: Bytes, options: GetOptions, as: (reply: Reply) => T): Promise<T> {
    try {
      const k = toBytes('key', key);
      const r = options.r ?? 0;
      return this.send({ op: 'GET', streamId: 0, key: k, r, timeoutMs: options.timeoutMs ?? 0 }, options, as, undefined, k, r);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Writes a value. With the context of a read, it replaces what that read returned; without, it adds a sibling. */
  put(key: Bytes, value: Bytes, options: PutOptions = NO_OPTIONS): Promise<WriteResult> {
    try {
      const k = toBytes('key', key);
      const w = options.w ?? 0;
      return this.send(
        { op: 'PUT', streamId: 0, key: k, value: toBytes('value', value), context: options.context ?? EMPTY, w, timeoutMs: options.timeoutMs ?? 0 },
        options,
        toPutResult,
        undefined,
        k,
        w,
      );
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Deletes a key (writes a tombstone). Pass the context of a read to delete exactly what it saw. */
  delete(key: Bytes, options: PutOptions = NO_OPTIONS): Promise<WriteResult> {
    try {
      const k = toBytes('key', key);
      const w = options.w ?? 0;
      return this.send({ op: 'DELETE', streamId: 0, key: k, context: options.context ?? EMPTY, w, timeoutMs: options.timeoutMs ?? 0 }, options, toDeleteResult, undefined, k, w);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Read-modify-write: reads the key, resolves siblings, calls `fn` with the
   * current value (undefined when absent) and writes its result with the
   * read's context, so concurrent updates become siblings instead of lost
   * writes. Returns the value written.
   */
  async update(key: Bytes, fn: (current: Buffer | undefined) => Bytes | Promise<Bytes>, options: UpdateOptions = {}): Promise<Buffer> {
    const read = await this.getRaw(key, options);
    let current: Buffer | undefined;
    if (read.values.length === 1) current = read.values[0];
    else if (read.values.length > 1) {
      const resolver = options.resolver ?? this.resolver;
      if (resolver === undefined) {
        throw new ClientError('KV_CONFLICT', `key has ${read.values.length} siblings and no resolver was given`);
      }
      current = Buffer.from(toBytes('resolved value', resolver(read.values)));
    }
    const next = Buffer.from(toBytes('updated value', await fn(current)));
    await this.put(key, next, { ...options, context: read.context });
    return next;
  }

  /** Round trip to a node; resolves with the node id that answered. */
  async ping(options: RequestOptions = {}): Promise<void> {
    const reply = await this.send({ op: 'PING', streamId: 0, payload: EMPTY }, options, asReply);
    if (reply.op !== 'PONG') throw this.unexpected(reply);
  }

  /** A node's statistics as dotted names → numbers. */
  async stats(options: RequestOptions & { node?: string } = {}): Promise<Record<string, number>> {
    const reply = await this.send({ op: 'STATS', streamId: 0 }, options, asReply, options.node);
    if (reply.op !== 'STATS_REPLY') throw this.unexpected(reply);
    return Object.fromEntries(reply.stats.map((s) => [s.name, s.value]));
  }

  /**
   * Anti-entropy (admin role, PROTOCOL.md §16): the node exchanges
   * `partition` with `peer` (empty: another primary that is up) now, and
   * answers what the exchange did.
   */
  async aaeExchange(partition: number, peer = '', options: RequestOptions & { node?: string } = {}): Promise<AaeExchangeReply> {
    const reply = await this.send({ op: 'AAE_EXCHANGE', streamId: 0, body: encodeAaeExchangeRequest({ partition, peer }) }, options, asReply, options.node);
    if (reply.op !== 'AAE_EXCHANGE_REPLY') throw this.unexpected(reply);
    const r = decodeAaeExchangeReply(reply.body);
    if (E.isLeft(r)) throw new ClientError('KV_BAD_FRAME', `bad AAE_EXCHANGE reply: ${r.left.message}`);
    return r.right;
  }

  /** Anti-entropy status per partition the node exchanged (admin role, §16). */
  async aaeStatus(options: RequestOptions & { node?: string } = {}): Promise<readonly AaePartitionStatus[]> {
    const reply = await this.send({ op: 'AAE_STATUS', streamId: 0, body: new Uint8Array(0) }, options, asReply, options.node);
    if (reply.op !== 'AAE_STATUS_REPLY') throw this.unexpected(reply);
    const r = decodeAaeStatusReply(reply.body);
    if (E.isLeft(r)) throw new ClientError('KV_BAD_FRAME', `bad AAE_STATUS reply: ${r.left.message}`);
    return r.right;
  }

  /** Closes every connection; pending requests fail with KV_CLOSED. */
  async close(): Promise<void> {
    this.closed = true;
    for (const e of this.byName.values()) for (const c of e.conns) c.close();
  }

  private unexpected(reply: Reply): ClientError {
    return unexpected(reply);
  }

  /**
   * `msg.streamId` is a placeholder: each attempt's connection overwrites it.
   * `key` (with the request's quorum, 0 = default) routes it to the key's
   * preference list when a ring is known.
   */
  private send<T>(msg: Message, options: RequestOptions, convert: (r: Reply) => T, node?: string, key?: Uint8Array, quorum = 0): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const nowMs = Date.now();
    const deadline = nowMs + timeoutMs;
    if (nowMs >= this.ringCheckAtMs) this.maybeRefreshRing(nowMs);
    // The common case, a connection already open: no await and no array
    // built before the request is written (the retry loop runs only on error).
    let conn: Connection | undefined;
    if (!this.closed && node === undefined) {
      if (key !== undefined && this.table !== undefined) conn = this.routedConnection(key, quorum);
      if (conn === undefined) conn = this.readyConnection();
    }
    if (conn === undefined) return this.sendLoop(msg, options.signal, node, timeoutMs, deadline, 0, undefined, key, quorum).then(convert);
    // A failure comes back through `retryAfterFailure`, and the reply is converted as it is
    // matched (no closure, .then or extra promise per request).
    return conn.requestOwned(msg, timeoutMs, options.signal, deadline, node === undefined, convert);
  }

  /** A request sent by `send` failed on its first connection: another attempt's answer, or undefined to fail. */
  private readonly retryAfterFailure = (msg: Message, err: ClientError, deadlineMs: number, timeoutMs: number, signal: AbortSignal | undefined): Promise<Reply> | undefined => {
    this.suspectRingAfter(err);
    if (!this.retriesAfter(err)) return undefined;
    const key = msg.op === 'GET' || msg.op === 'PUT' || msg.op === 'DELETE' ? msg.key : undefined;
    const quorum = msg.op === 'GET' ? msg.r : msg.op === 'PUT' || msg.op === 'DELETE' ? msg.w : 0;
    return this.sendLoop(msg, signal, undefined, timeoutMs, deadlineMs, 1, err, key, quorum);
  };

  /**
   * An open connection to a node of the key's preference list: the least
   * busy of the first `quorum` (default a majority of n) — any of them
   * coordinates without a forward, and spreading over them spreads the
   * coordinating work — else of the rest of the list; undefined when none is
   * open (connections to the missing ones are started for next time).
   */
  private routedConnection(key: Uint8Array, quorum: number): Connection | undefined {
    const t = this.table!;
    const list = this.prefEndpoints[partitionOfKey(t, key)]!;
    const n = list.length;
    if (n === 0) return undefined;
    const k = Math.min(n, quorum > 0 ? quorum : (t.n >> 1) + 1);
    this.spread = (this.spread + 1) & 0x3fffffff;
    const start = this.spread % k;
    let best: Connection | undefined;
    let bestLoad = Infinity;
    for (let i = 0; i < n; i++) {
      if (i === k && best !== undefined) break;
      const c = this.openConnection(list[i < k ? (start + i) % k : i]!);
      if (c !== undefined && c.inFlight < bestLoad) {
        best = c;
        bestLoad = c.inFlight;
      }
    }
    return best;
  }

  /** The endpoint's least busy open connection; starts another connection when it has fewer than asked (and is not backing off). */
  private openConnection(e: Endpoint): Connection | undefined {
    let best: Connection | undefined;
    let open = 0;
    for (const c of e.conns) {
      if (!c.isOpen) continue;
      open++;
      if (best === undefined || c.inFlight < best.inFlight) best = c;
    }
    if (open < this.perNode && e.connecting === undefined && (open > 0 || e.retryAt <= Date.now())) void this.connect(e).catch(() => undefined);
    return best;
  }

  private retriesAfter(err: unknown): err is ClientError {
    return err instanceof ClientError && err.safeToRetry && err.code !== 'KV_ABORTED' && err.code !== 'KV_TIMEOUT' && err.code !== 'KV_CLOSED';
  }

  /** The least busy open connection of the next node round-robin, or undefined (no allocation on this path). */
  private readyConnection(): Connection | undefined {
    const n = this.endpoints.length;
    for (let i = 0; i < n; i++) {
      const e = this.endpoints[(this.rr + i) % n]!;
      let best: Connection | undefined;
      let open = 0;
      for (const c of e.conns) {
        if (!c.isOpen) continue;
        open++;
        if (best === undefined || c.inFlight < best.inFlight) best = c;
      }
      if (best !== undefined) {
        this.rr = (this.rr + i + 1) % n;
        if (open < this.perNode) void this.connect(e).catch(() => undefined);
        return best;
      }
      // A node with nothing open (it went down, or never answered) is tried
      // again in the background once its backoff allows, so it gets its share
      // back when it returns instead of staying unused while others answer.
      if (e.connecting === undefined && e.retryAt <= Date.now()) void this.connect(e).catch(() => undefined);
    }
    return undefined;
  }

  private async sendLoop(
    msg: Message,
    signal: AbortSignal | undefined,
    node: string | undefined,
    timeoutMs: number,
    deadline: number,
    firstAttempt: number,
    firstError: ClientError | undefined,
    key: Uint8Array | undefined,
    quorum: number,
  ): Promise<Reply> {
    let lastError = firstError;
    for (let attempt = firstAttempt; attempt <= this.retries; attempt++) {
      if (this.closed) throw new ClientError('KV_CLOSED', 'client is closed', { safeToRetry: true });
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      let conn: Connection;
      try {
        const routed = node === undefined && key !== undefined && this.table !== undefined ? this.routedConnection(key, quorum) : undefined;
        conn = routed ?? (await this.connection(remaining, node));
      } catch (e) {
        lastError = e as ClientError;
        // Wrong credentials stay wrong: no point retrying them until the deadline.
        if (lastError.code === 'KV_CLOSED' || lastError.code === 'KV_AUTH') throw lastError;
        continue;
      }
      try {
        return await conn.requestOwned(msg, Math.max(1, deadline - Date.now()), signal);
      } catch (e) {
        this.suspectRingAfter(e);
        if (!this.retriesAfter(e)) throw e;
        lastError = e;
      }
    }
    throw lastError ?? new ClientError('KV_TIMEOUT', `no node answered within ${timeoutMs} ms`, { retryable: true });
  }

  /** A ready connection, round-robin over nodes, connecting (with backoff) as needed. */
  private async connection(budgetMs: number, node?: string): Promise<Connection> {
    const named = node === undefined ? undefined : this.byName.get(node);
    const candidates = node === undefined ? this.endpoints : named === undefined ? [] : [named];
    if (candidates.length === 0) throw new ClientError('KV_BAD_ARGUMENT', `node ${node} is not one of this client's nodes`);
    const n = candidates.length;
    for (let i = 0; i < n; i++) {
      const e = candidates[(this.rr + i) % n]!;
      const open = e.conns.filter((c) => c.isOpen);
      if (open.length > 0) {
        this.rr = (this.rr + i + 1) % n;
        if (open.length < this.perNode) void this.connect(e).catch(() => undefined);
        // The least busy of this node's connections.
        return open.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
      }
    }
    // Nothing open: connect to every node that is not backing off, take the first that answers.
    const deadline = Date.now() + budgetMs;
    const attempts = candidates.filter((e) => e.retryAt <= Date.now()).map((e) => this.connect(e));
    if (attempts.length === 0) {
      const soonest = Math.min(...candidates.map((e) => e.retryAt));
      const wait = soonest - Date.now();
      if (wait >= deadline - Date.now()) {
        throw candidates[0]!.lastError ?? new ClientError('KV_UNAVAILABLE', 'no node reachable', { safeToRetry: true, retryable: true });
      }
      await new Promise((r) => setTimeout(r, Math.max(0, wait)));
      return this.connection(deadline - Date.now(), node);
    }
    try {
      await Promise.any(attempts);
    } catch (e) {
      const errs = (e as AggregateError).errors as ClientError[];
      throw errs[0] ?? new ClientError('KV_UNAVAILABLE', 'no node reachable', { safeToRetry: true, retryable: true });
    }
    return this.connection(deadline - Date.now(), node);
  }

  private connect(e: Endpoint): Promise<void> {
    if (e.connecting !== undefined) return e.connecting;
    const conn = new Connection({
      host: e.host,
      port: e.port,
      clientName: this.clientName,
      connectTimeoutMs: this.connectTimeoutMs,
      maxFrameBytes: this.maxFrameBytes,
      ...(this.auth !== undefined ? { auth: this.auth } : {}),
      retry: this.retryAfterFailure,
      ...(this.tls !== undefined ? { tls: this.tls } : {}),
    });
    e.connecting = conn.open().then(
      () => {
        e.connecting = undefined;
        e.delays = this.backoff();
        e.retryAt = 0;
        e.lastError = undefined;
        if (this.closed) {
          conn.close();
          return;
        }
        e.conns.push(conn);
        conn.onClose = () => {
          e.conns = e.conns.filter((c) => c !== conn);
          this.suspectRing();
        };
        if (this.routingOption === 'client' && conn.hello !== undefined) this.sawRingVersion(conn.hello.ringVersion);
      },
      (err: ClientError) => {
        e.connecting = undefined;
        e.lastError = err;
        const next = e.delays.next();
        e.retryAt = Date.now() + (next.done ? 60_000 : next.value);
        throw err;
      },
    );
    return e.connecting;
  }
}

/** The per-connection SCRAM exchange for the configured user, or undefined when no user is configured. */
const credentialsFrom = (options: ClientOptions, env: Readonly<Record<string, string | undefined>>): (() => InitiatorAuth) | undefined => {
  const user = options.user ?? env['RINGKV_USER'];
  if (user === undefined || user === '') {
    if (options.password !== undefined || options.passwordFile !== undefined) throw new TypeError('a password was given without a user');
    return undefined;
  }
  const password =
    options.password !== undefined
      ? options.password instanceof Secret
        ? options.password
        : new Secret(options.password)
      : options.passwordFile !== undefined
        ? readSecretFile(options.passwordFile, 'password')
        : env['RINGKV_PASSWORD'] !== undefined
          ? new Secret(env['RINGKV_PASSWORD'])
          : env['RINGKV_PASSWORD_FILE'] !== undefined
            ? readSecretFile(env['RINGKV_PASSWORD_FILE'], 'password')
            : undefined;
  if (password === undefined) throw new TypeError(`user ${user} needs a password (password, passwordFile, RINGKV_PASSWORD or RINGKV_PASSWORD_FILE)`);
  const cache: SaltedCache = new Map();
  return () => new ScramInitiator({ user, password }, cache);
};

/** Creates a client. Connections open lazily, on the first request. */
export const createClient = (options: ClientOptions): Client => new Client(options);

