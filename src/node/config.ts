/**
 * Node configuration, decoded with io-ts at the edge. Flags, environment
 * variables and an optional JSON file all arrive as untyped input; only a
 * `NodeConfig` leaves this module, so nothing past it re-validates.
 *
 * Precedence: command-line flags > environment (RINGKV_*) > config file > defaults.
 */
import * as t from 'io-ts';
import { pipe } from 'fp-ts/lib/function.js';
import * as E from 'fp-ts/lib/Either.js';
import { readFileSync } from 'node:fs';
import { KvError } from '../errors.js';
import { Secret, readSecretFile } from '../auth/secret.js';
import { MIN_CLUSTER_SECRET_BYTES } from '../auth/node_auth.js';

/** An integer in [min, max], given as a number or a decimal string (flags, env). */
const intIn = (name: string, min: number, max: number): t.Type<number, number, unknown> =>
  new t.Type<number, number, unknown>(
    name,
    (u): u is number => typeof u === 'number' && Number.isInteger(u) && u >= min && u <= max,
    (u, c) => {
      const n = typeof u === 'string' && /^-?\d+$/.test(u.trim()) ? Number(u) : u;
      return typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max
        ? t.success(n)
        : t.failure(u, c, `expected an integer in ${min}..${max}`);
    },
    t.identity,
  );

/** A positive number (weights), from a number or a string. */
const positive = (name: string): t.Type<number, number, unknown> =>
  new t.Type<number, number, unknown>(
    name,
    (u): u is number => typeof u === 'number' && u > 0 && Number.isFinite(u),
    (u, c) => {
      const n = typeof u === 'string' && u.trim() !== '' ? Number(u) : u;
      return typeof n === 'number' && Number.isFinite(n) && n > 0 ? t.success(n) : t.failure(u, c, 'expected a positive number');
    },
    t.identity,
  );

const bool = new t.Type<boolean, boolean, unknown>(
  'boolean',
  (u): u is boolean => typeof u === 'boolean',
  (u, c) => {
    if (typeof u === 'boolean') return t.success(u);
    if (u === 'true' || u === '1' || u === '') return t.success(true);
    if (u === 'false' || u === '0') return t.success(false);
    return t.failure(u, c, 'expected true or false');
  },
  t.identity,
);

const nonEmpty = new t.Type<string, string, unknown>(
  'non-empty string',
  (u): u is string => typeof u === 'string' && u.length > 0,
  (u, c) => (typeof u === 'string' && u.length > 0 ? t.success(u) : t.failure(u, c, 'expected a non-empty string')),
  t.identity,
);

const MiB = 1024 * 1024;

/**
 * A secret from the environment or the config file (never a flag: flags show
 * in `ps`). Any string is accepted here so a refusal can never echo it; the
 * length is checked after decoding, by a message that names no value.
 */
const secret = new t.Type<Secret | undefined, Secret | undefined, unknown>(
  'secret',
  (u): u is Secret | undefined => u === undefined || u instanceof Secret,
  (u, c) => (u === undefined || u instanceof Secret ? t.success(u) : typeof u === 'string' ? t.success(new Secret(u)) : t.failure('[secret]', c, 'expected a string')),
  t.identity,
);
const optionalPath = t.union([nonEmpty, t.undefined]);

export const LimitsCodec = t.type({
  maxFrameBytes: intIn('maxFrameBytes', 64, 256 * MiB),
  maxKeyBytes: intIn('maxKeyBytes', 1, 65535),
  maxValueBytes: intIn('maxValueBytes', 0, 128 * MiB),
  maxConnections: intIn('maxConnections', 1, 1_000_000),
  /** Issue #9: open sockets (handshaking or not) from one remote IP address. */
  maxConnectionsPerAddress: intIn('maxConnectionsPerAddress', 1, 1_000_000),
  maxInFlightPerConnection: intIn('maxInFlightPerConnection', 1, 1_000_000),
  handshakeTimeoutMs: intIn('handshakeTimeoutMs', 1, 3_600_000),
  idleTimeoutMs: intIn('idleTimeoutMs', 0, 86_400_000),
});
export type Limits = t.TypeOf<typeof LimitsCodec>;

export const NodeConfigCodec = t.type({
  nodeId: t.union([nonEmpty, t.undefined]),
  host: nonEmpty,
  port: intIn('port', 0, 65535),
  dataDir: nonEmpty,
  backend: nonEmpty,
  durability: t.keyof({ none: null, interval: null, always: null }),
  syncIntervalMs: intIn('syncIntervalMs', 1, 60_000),
  sharedSync: bool,
  partitionBits: intIn('partitionBits', 1, 12),
  weight: positive('weight'),
  n: intIn('n', 1, 16),
  r: intIn('r', 1, 16),
  w: intIn('w', 1, 16),
  requestTimeoutMs: intIn('requestTimeoutMs', 1, 600_000),
  join: t.readonlyArray(t.string),
  /**
   * Run as a cluster node (replication, gossip, hinted handoff). Implied by a
   * non-empty `join`; the first node of a cluster sets it explicitly
   * (`--cluster`). Without either the node runs standalone (N = R = W = 1).
   */
  cluster: bool,
  peerTimeoutMs: intIn('peerTimeoutMs', 1, 600_000),
  gossipIntervalMs: intIn('gossipIntervalMs', 10, 600_000),
  handoffIntervalMs: intIn('handoffIntervalMs', 10, 600_000),
  phiThreshold: positive('phiThreshold'),
  maxConsecutiveFailures: intIn('maxConsecutiveFailures', 1, 1000),
  insecure: bool,
  // Security (issue #9). `insecure` (above) lets a node listen beyond loopback without authentication.
  /** Clients must log in as a user of `<data>/users.json` (SCRAM-SHA-256). */
  auth: bool,
  /** Nodes prove to each other they hold it; from env RINGKV_CLUSTER_SECRET, the config file, or `clusterSecretFile`. */
  clusterSecret: secret,
  clusterSecretFile: t.union([nonEmpty, t.undefined]),
  // Issue #9 (TLS): PEM files. A certificate and key turn TLS on for the
  // client port and for this node's links to its peers (a cluster is all TLS
  // or none); the CA verifies peers and, with client auth, clients.
  tlsCert: optionalPath,
  tlsKey: optionalPath,
  tlsCa: optionalPath,
  /** `require`: every client and peer must present a certificate the CA signed (mutual TLS). */
  tlsClientAuth: t.keyof({ none: null, require: null }),
  // Anti-entropy (issue #7; src/cluster/anti_entropy.ts, docs/cluster.md).
  /** Periodic exchanges with the other primaries (trees are kept live either way). */
  aaeEnabled: bool,
  /** One exchange (one partition, one peer) every this many ms. */
  aaeIntervalMs: intIn('aaeIntervalMs', 10, 86_400_000),
  /** Keys an exchange may fetch or push per second. */
  aaeKeysPerSec: intIn('aaeKeysPerSec', 1, 100_000_000),
  /** log2 of Merkle leaves per partition (equal on every node). */
  aaeLeafBits: intIn('aaeLeafBits', 0, 24),
  /** Reap tombstones once every member holds them (never on a timer). */
  aaeReap: bool,
  /** A tombstone must have been stored unchanged this long before it may be reaped (bounds in-flight stale messages). */
  aaeReapAfterMs: intIn('aaeReapAfterMs', 0, 86_400_000),
  /** Read repair and hinted-handoff delivery; switched off only to test anti-entropy alone. */
  readRepair: bool,
  hintedHandoff: bool,
  // Elastic membership (issue #6; src/cluster/transfers.ts, docs/cluster.md).
  /** Partition transfers into this node at once (a joining node pulls this many partitions in parallel). */
  maxTransfers: intIn('maxTransfers', 1, 64),
  /** Keys per transfer chunk (one chunk in flight per transfer: the flow control). */
  transferChunkKeys: intIn('transferChunkKeys', 1, 65535),
  /** Bytes per second a node receives by transfer, all transfers together (0 = unlimited): a join yields to clients. */
  transferRateBytes: intIn('transferRateBytes', 0, 1 << 30),
  limits: LimitsCodec,
});
export type NodeConfig = t.TypeOf<typeof NodeConfigCodec>;

/** True when the node runs as a cluster member rather than standalone. */
export const isClusterNode = (c: Pick<NodeConfig, 'cluster' | 'join'>): boolean => c.cluster || c.join.length > 0;

export const defaultLimits: Limits = {
  maxFrameBytes: 8 * MiB,
  maxKeyBytes: 1024,
  maxValueBytes: 4 * MiB,
  maxConnections: 10_000,
  // Enough for a client machine's connection pools; one address cannot take every slot.
  maxConnectionsPerAddress: 1_000,
  maxInFlightPerConnection: 1024,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 0,
};

export const defaultConfig: NodeConfig = {
  nodeId: undefined,
  host: '127.0.0.1',
  port: 7401,
  dataDir: './ringkv-data',
  backend: 'log',
  durability: 'interval',
  syncIntervalMs: 100,
  sharedSync: true,
  partitionBits: 6,
  weight: 1,
  n: 3,
  r: 2,
  w: 2,
  requestTimeoutMs: 5_000,
  join: [],
  cluster: false,
  peerTimeoutMs: 1000,
  gossipIntervalMs: 1000,
  handoffIntervalMs: 1000,
  phiThreshold: 8,
  maxConsecutiveFailures: 3,
  insecure: false,
  auth: false,
  clusterSecret: undefined,
  clusterSecretFile: undefined,
  tlsCert: undefined,
  tlsKey: undefined,
  tlsCa: undefined,
  tlsClientAuth: 'none',
  aaeEnabled: true,
  aaeIntervalMs: 10_000,
  aaeKeysPerSec: 1_000,
  aaeLeafBits: 10,
  aaeReap: true,
  aaeReapAfterMs: 60_000,
  readRepair: true,
  hintedHandoff: true,
  maxTransfers: 2,
  transferChunkKeys: 128,
  transferRateBytes: 4 * MiB,
  limits: defaultLimits,
};

const limitKeys = Object.keys(defaultLimits) as (keyof Limits)[];

/** Environment variable for a config key: `maxFrameBytes` → `RINGKV_MAX_FRAME_BYTES`. */
export const envName = (key: string): string => 'RINGKV_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();

const fromEnv = (env: Readonly<Record<string, string | undefined>>): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(defaultConfig)) {
    if (key === 'limits') continue;
    const v = env[envName(key)];
    if (v !== undefined) out[key] = key === 'join' ? v.split(',').filter((s) => s !== '') : v;
  }
  const limits: Record<string, unknown> = {};
  for (const key of limitKeys) {
    const v = env[envName(key)];
    if (v !== undefined) limits[key] = v;
  }
  if (Object.keys(limits).length > 0) out['limits'] = limits;
  return out;
};

/** Raw (untyped) layers, lowest precedence first; `limits` merge key by key. */
const merge = (...layers: readonly Record<string, unknown>[]): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  const limits: Record<string, unknown> = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      if (v === undefined) continue;
      if (k === 'limits' && typeof v === 'object' && v !== null) Object.assign(limits, v);
      else if (limitKeys.includes(k as keyof Limits)) limits[k] = v;
      else out[k] = v;
    }
  }
  out['limits'] = limits;
  return out;
};

const describe = (errors: t.Errors): string =>
  errors
    .map((e) => {
      const path = e.context
        .map((c) => c.key)
        .filter((k) => k !== '' && !/^\d+$/.test(k))
        .join('.');
      const got = JSON.stringify(e.value);
      return `${path || 'config'}: ${e.message ?? 'invalid'} (got ${got === undefined ? 'nothing' : got})`;
    })
    .join('; ');

export interface ConfigSources {
  /** Parsed command-line flags (strings or booleans), camelCase keys. */
  readonly flags?: Readonly<Record<string, unknown>>;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Path of a JSON config file (flag `--config` or env RINGKV_CONFIG). */
  readonly file?: string;
}

/**
 * Decodes the node configuration from its sources, or fails with a
 * `KV_BAD_ARGUMENT` error that names every bad field.
 */
export const decodeConfig = (sources: ConfigSources): E.Either<KvError, NodeConfig> => {
  let fileLayer: Record<string, unknown> = {};
  if (sources.file !== undefined) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(sources.file, 'utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        return E.left(new KvError('KV_BAD_ARGUMENT', `config file ${sources.file}: expected a JSON object`));
      }
      fileLayer = parsed as Record<string, unknown>;
    } catch (e) {
      return E.left(new KvError('KV_BAD_ARGUMENT', `config file ${sources.file}: ${(e as Error).message}`, { cause: e }));
    }
  }
  const raw = merge(defaultConfig as unknown as Record<string, unknown>, fileLayer, fromEnv(sources.env ?? {}), sources.flags ?? {});
  if (typeof raw['join'] === 'string') raw['join'] = (raw['join'] as string).split(',').filter((s) => s !== '');
  return pipe(
    NodeConfigCodec.decode(raw),
    E.mapLeft((errors) => new KvError('KV_BAD_ARGUMENT', describe(errors))),
    E.chain((c) =>
      c.r > c.n || c.w > c.n
        ? E.left(new KvError('KV_BAD_ARGUMENT', `r (${c.r}) and w (${c.w}) must not exceed n (${c.n})`))
        : E.right(c),
    ),
    E.chain(withClusterSecret),
    E.chain((c) => {
      const reason = invalidTls(c);
      return reason === null ? E.right(c) : E.left(new KvError('KV_BAD_ARGUMENT', reason));
    }),
  );
};

/** Reads `clusterSecretFile` into `clusterSecret` and checks the secret's length (never its value in a message). */
const withClusterSecret = (c: NodeConfig): E.Either<KvError, NodeConfig> => {
  let clusterSecret = c.clusterSecret;
  if (c.clusterSecretFile !== undefined) {
    if (clusterSecret !== undefined) return E.left(new KvError('KV_BAD_ARGUMENT', 'give the cluster secret once: clusterSecretFile or RINGKV_CLUSTER_SECRET, not both'));
    try {
      clusterSecret = readSecretFile(c.clusterSecretFile, 'cluster secret');
    } catch (e) {
      return E.left(e as KvError);
    }
  }
  if (clusterSecret !== undefined && clusterSecret.length < MIN_CLUSTER_SECRET_BYTES) {
    return E.left(new KvError('KV_BAD_ARGUMENT', `the cluster secret must be at least ${MIN_CLUSTER_SECRET_BYTES} bytes (e.g. openssl rand -hex 32)`));
  }
  return E.right({ ...c, clusterSecret });
};

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/;

/** True for an address only this machine can reach. */
export const isLoopback = (host: string): boolean => LOOPBACK.test(host);

/**
 * Why this configuration must not start (protected defaults, issue #9), or
 * null. A node that others can reach needs client authentication and, in a
 * cluster, the cluster secret — unless `insecure` says the operator knows.
 */
export const unsafeReason = (c: NodeConfig): string | null => {
  const clustered = isClusterNode(c);
  if (c.auth && clustered && c.clusterSecret === undefined) {
    return 'auth is on but this cluster node has no cluster secret: any process could skip the login by claiming to be a node. Set RINGKV_CLUSTER_SECRET or --cluster-secret-file (the same secret on every node)';
  }
  if (isLoopback(c.host) || c.insecure) return null;
  const missing = [...(c.auth ? [] : ['client authentication (--auth, users from `ringkv user add`)']), ...(clustered && c.clusterSecret === undefined ? ['a cluster secret (--cluster-secret-file or RINGKV_CLUSTER_SECRET)'] : [])];
  if (missing.length === 0) return null;
  return `refusing to listen on ${c.host} without ${missing.join(' and ')}: anyone who can reach this address could read and overwrite every key${clustered ? ' or join the cluster' : ''}. Configure them, bind 127.0.0.1, or pass --insecure to accept the risk`;
};

/** Why the TLS settings cannot work together, or null. */
export const invalidTls = (c: Pick<NodeConfig, 'tlsCert' | 'tlsKey' | 'tlsCa' | 'tlsClientAuth'>): string | null => {
  if ((c.tlsCert === undefined) !== (c.tlsKey === undefined)) return 'tlsCert and tlsKey go together (--tls-cert and --tls-key)';
  if (c.tlsCert === undefined && (c.tlsCa !== undefined || c.tlsClientAuth !== 'none')) return 'tlsCa and tlsClientAuth need TLS on (--tls-cert and --tls-key)';
  if (c.tlsClientAuth === 'require' && c.tlsCa === undefined) return 'tlsClientAuth require needs the CA that signs client certificates (--tls-ca)';
  return null;
};
