/**
 * A running ringkv node: storage backend + replica + service + TCP server,
 * wired from a decoded NodeConfig.
 *
 * Standalone (the default) serves every key from the local replica. With
 * `--cluster` (the first node) or `--join host:port` (the others) the service
 * is a ClusterNode (src/cluster/cluster_node.ts): a real Clock, Math.random,
 * a TcpTransport that shares the client port (HELLO's role tells peers from
 * clients), hints in `<data>/hints` (same backend kind as the data) and an
 * incarnation in `<data>/INCARNATION`, one higher at every start so a
 * restarted node's 'up' overrides gossip that still says 'down'.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync, renameSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { KvError } from '../errors.js';
import { createBackend } from '../storage/index.js';
import type { StorageBackend } from '../storage/backend.js';
import { ClusterNode } from '../cluster/cluster_node.js';
import type { ClusterNodeApi, ClusterStatus } from '../cluster/api.js';
import { mathRandom, realClock } from '../cluster/real_clock.js';
import { TcpTransport, peerWireCodec } from '../cluster/tcp_transport.js';
import { PEER_STATUSES, encodeRingBody, ringBodyOf } from '../../protocol/peer.js';
import type { PeerReply, PeerRequest } from '../../protocol/peer_messages.js';
import { isClusterNode, unsafeReason, type NodeConfig } from './config.js';
import { clusterKey } from '../auth/node_auth.js';
import { UserStore, usersPath } from '../auth/users.js';
import type { AcceptorSecurity } from '../auth/acceptor.js';
import type { Secret } from '../auth/secret.js';
import { Replica } from './replica.js';
import { NodeServer } from './server.js';
import { StandaloneService, type KvService } from './service.js';
import { NodeStats } from './stats.js';
import { LoopStats } from './loop_stats.js';
import { loadTlsMaterial, type TlsMaterial } from './tls.js';
import type { ClientTlsOptions } from '../client/tls.js';
import { partitionOf } from '../native/addon.js';
import { decodeObject } from '../core/context_codec.js';
import { toReadResult, type ReadResult } from './service.js';
import * as E from 'fp-ts/lib/Either.js';
import { decodeAaeExchangeRequest, encodeAaeExchangeReply, encodeAaeStatusReply } from '../../protocol/aae_admin.js';

export type LogFn = (level: 'info' | 'warn' | 'error', msg: string) => void;

export interface RunningNode {
  readonly nodeId: string;
  /** The id this node's data carries in version clocks (nodeId + a per-data-dir epoch). */
  readonly replicaId: string;
  readonly host: string;
  readonly port: number;
  readonly stats: NodeStats;
  /** The cluster node, when running as one. */
  readonly cluster: ClusterNodeApi | undefined;
  /** Resolves when this node left the cluster (issue 6: after `leave`, every partition handed off). */
  readonly left: Promise<void>;
  /**
   * Reads the TLS certificate, key and CA files again (a rotated
   * certificate, `ringkv start` on SIGHUP): new client connections and new
   * links to peers use them; open ones keep theirs. Throws KV_BAD_ARGUMENT,
   * keeping the old material, when the files are unreadable or do not fit
   * together; false when the node runs without TLS.
   */
  reloadTls(): boolean;
  /** Finishes in-flight requests, syncs and closes storage. Idempotent. */
  close(): Promise<void>;
}

/**
 * The replica id is the node id plus an epoch drawn when the data directory
 * is first used. A node whose disk was wiped gets a new epoch, so it never
 * issues a version dot it already issued before the wipe (which would let
 * a new write be mistaken for an old, already-superseded one).
 */
const replicaIdFor = (dataDir: string, nodeId: string): string => {
  const file = join(dataDir, 'REPLICA_ID');
  if (existsSync(file)) {
    const saved = readFileSync(file, 'utf8').trim();
    const slash = saved.lastIndexOf('/');
    if (slash > 0 && saved.slice(0, slash) === nodeId) return saved;
  }
  const id = `${nodeId}/${randomBytes(4).toString('hex')}`;
  writeFileSync(file + '.tmp', id + '\n');
  renameSync(file + '.tmp', file);
  return id;
};

/**
 * `<data>/AAE_TREES`: the anti-entropy trees of the last clean shutdown.
 * Taken (read and deleted) at start, before the node serves: a crash later
 * leaves no file, so the next start rebuilds the trees from the data.
 */
const TREES_FILE = 'AAE_TREES';

const takeSavedTrees = (dataDir: string): Uint8Array | undefined => {
  const file = join(dataDir, TREES_FILE);
  if (!existsSync(file)) return undefined;
  const bytes = readFileSync(file);
  rmSync(file, { force: true });
  return bytes;
};

const saveTrees = (dataDir: string, bytes: Uint8Array): void => {
  const file = join(dataDir, TREES_FILE);
  writeFileSync(file + '.tmp', bytes);
  renameSync(file + '.tmp', file);
};

/** Reads, bumps and durably rewrites `<data>/INCARNATION`; returns this start's incarnation (1 on a fresh directory). */
export const nextIncarnation = (dataDir: string): number => {
  const file = join(dataDir, 'INCARNATION');
  let previous = 0;
  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8').trim();
    if (!/^\d+$/.test(text)) throw new KvError('KV_CORRUPTION', `${file} holds ${JSON.stringify(text)}, not an incarnation number`);
    previous = Number(text);
  }
  const next = previous + 1;
  writeFileSync(file + '.tmp', `${next}\n`);
  renameSync(file + '.tmp', file);
  return next;
};

/**
 * The cluster view as STATS names (`ringkv status` reads them back):
 *   cluster.members                        members this node counts as active
 *   cluster.partitions_held                partitions whose preference list holds this node
 *   cluster.member.<id>.up                 1 when this node considers <id> up (phi + request failures)
 *   cluster.member.<id>.status             gossiped status: index in PEER_STATUSES (0 joining, 1 up, 2 leaving, 3 down, 4 removed)
 *   cluster.member.<id>.phi / .incarnation / .heartbeat / .partitions
 *   cluster.hints_pending.<id>             hints this node holds for <id>
 *   cluster.aae.<p>.last_exchange_ms       wall-clock ms of partition <p>'s last anti-entropy exchange (#7)
 *   cluster.aae.<p>.last_keys_repaired / .keys_repaired / .tombstones   that exchange's repairs, all since start, tombstones held
 * Ids may contain dots: the field is the last segment.
 */
export const clusterStats = (s: ClusterStatus, memberCount: number): Record<string, number> => {
  const out: Record<string, number> = { 'cluster.members': memberCount, 'cluster.partitions_held': s.partitionsHeld };
  // Issue 6: the ring's epoch, whether a change is pending, its transfers left, and those running here.
  if (s.ringEpoch !== undefined) out['cluster.ring_epoch'] = s.ringEpoch;
  if (s.ringPending !== undefined) out['cluster.ring_pending'] = s.ringPending ? 1 : 0;
  if (s.transfersPending !== undefined) out['cluster.transfers_pending'] = s.transfersPending;
  // Transfer source and target as indexes into the sorted member ids (STATS carries numbers only).
  const ids = s.members.map((m) => m.id);
  for (const t of s.transfers ?? []) {
    const at = `cluster.transfer.${t.partition}.`;
    out[at + 'keys'] = t.keys;
    out[at + 'keys_total'] = t.keysTotal;
    out[at + 'bytes'] = t.bytes;
    out[at + 'bytes_per_sec'] = t.bytesPerSec;
    out[at + 'eta_ms'] = t.etaMs;
    out[at + 'source'] = ids.indexOf(t.source);
    out[at + 'target'] = ids.indexOf(t.target);
  }
  for (const m of s.members) {
    const at = `cluster.member.${m.id}.`;
    out[at + 'up'] = m.up ? 1 : 0;
    out[at + 'status'] = (PEER_STATUSES as readonly string[]).indexOf(m.status);
    out[at + 'phi'] = m.phi;
    out[at + 'incarnation'] = m.incarnation;
    out[at + 'heartbeat'] = m.heartbeat;
    out[at + 'partitions'] = m.partitions;
  }
  for (const [id, n] of Object.entries(s.hintsPending)) out[`cluster.hints_pending.${id}`] = n;
  for (const a of s.aae ?? []) {
    const at = `cluster.aae.${a.partition}.`;
    out[at + 'last_exchange_ms'] = a.lastExchangeMs;
    out[at + 'last_keys_repaired'] = a.lastKeysRepaired;
    out[at + 'keys_repaired'] = a.keysRepaired;
    out[at + 'tombstones'] = a.tombstones;
  }
  return out;
};

/** How an operator's tool reaches one node over the peer protocol (readReplicaAt, adminAt). */
interface AdminOptions {
  readonly timeoutMs: number;
  readonly adminId?: string;
  readonly clusterSecret?: Secret;
  readonly tls?: ClientTlsOptions;
}

/**
 * One request to the node at `address` on a connection of its own (HELLO role
 * `node`, id `adminId`), closed afterwards: operator tools make one call and
 * exit, so nothing is worth keeping open.
 */
const adminRequest = async (address: string, message: PeerRequest, options: AdminOptions): Promise<PeerReply> => {
  const transport = new TcpTransport({
    nodeId: options.adminId ?? `admin-${process.pid}`,
    codec: peerWireCodec,
    connectTimeoutMs: options.timeoutMs,
    ...(options.clusterSecret !== undefined ? { clusterKey: clusterKey(options.clusterSecret) } : {}),
    ...(options.tls !== undefined ? { tls: options.tls } : {}),
  });
  try {
    return (await transport.requestAddress(address, message, options.timeoutMs)).reply;
  } finally {
    await transport.close();
  }
};

/**
 * Reads one node's LOCAL replica of `key`, not a quorum: a REPLICA_GET over
 * the peer protocol (HELLO role `node`, id `adminId`), as `ringkv get
 * --local` and the real-process tests do to check every replica directly.
 * `partitionBits` must match the cluster's (the node checks it).
 */
export const readReplicaAt = async (
  address: string,
  key: Uint8Array,
  options: AdminOptions & { readonly partitionBits: number },
): Promise<ReadResult> => {
  const reply = await adminRequest(address, { type: 'REPLICA_GET', partition: partitionOf(key, options.partitionBits), key }, options);
  if (reply.type !== 'REPLICA_GET_REPLY') throw new KvError('KV_INTERNAL', `unexpected ${reply.type} to REPLICA_GET`);
  if (!reply.found) return toReadResult(null);
  const obj = decodeObject(reply.object);
  if (!obj.ok) throw new KvError('KV_CORRUPTION', `replica object does not decode: ${obj.reason}`);
  return toReadResult(obj.value);
};

/**
 * Sends an operator's membership change (issue 6) to the node at `address`
 * over the peer protocol (HELLO role `node`, as readReplicaAt): `leave` makes
 * that node hand its partitions off and leave, `remove` marks `node` (down
 * for good) removed so the others rebuild its partitions.
 */
export const adminAt = async (
  address: string,
  op: 'leave' | 'remove',
  node: string,
  options: AdminOptions,
): Promise<void> => {
  const reply = await adminRequest(address, { type: 'ADMIN', op, node }, options);
  if (reply.type !== 'ACK') throw new KvError('KV_INTERNAL', `unexpected ${reply.type} to ADMIN`);
};

/**
 * The RING_REPLY body: the node's current ring (issue 6: the gossiped
 * cluster ring, owners by the committed epoch) with each owner's address.
 * While a change is pending the version covers the plan too (it changes
 * again when the plan commits), so a client that caches the ring refreshes.
 */
export const ringBodyFor = (cluster: ClusterNodeApi, partitionBits: number, n: number): Uint8Array => {
  const status = cluster.status();
  const ring = cluster.currentRing?.();
  if (ring === undefined || status.ringEpoch === 0) throw new KvError('KV_UNAVAILABLE', 'this node has no ring yet; ask again');
  const version = cluster.ringVersion();
  const addresses = new Map(status.members.map((m) => [m.id, m.address]));
  return encodeRingBody(ringBodyOf({ qBits: partitionBits, owners: ring.owners }, n, version, (id) => addresses.get(id) ?? ''));
};

/** The node's own certificate doubles as its client certificate toward peers. */
const clientTlsOf = (m: TlsMaterial): ClientTlsOptions => ({ cert: m.cert, key: m.key, ...(m.ca !== undefined ? { ca: m.ca } : {}) });

/** Seconds per event-loop statistics window (the eventLoop* figures of STATS). */
const LOOP_WINDOW_S = 10;

export const startNode = async (config: NodeConfig, log: LogFn = () => undefined): Promise<RunningNode> => {
  const unsafe = unsafeReason(config);
  if (unsafe !== null) throw new KvError('KV_BAD_ARGUMENT', unsafe);
  // Unreadable or mismatched TLS files stop the node before it opens anything.
  const tls = loadTlsMaterial(config);
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const key = config.clusterSecret !== undefined ? clusterKey(config.clusterSecret) : undefined;
  const users = config.auth ? new UserStore(usersPath(dataDir), log) : undefined;
  if (users !== undefined && users.size === 0) log('warn', `auth is on and ${usersPath(dataDir)} holds no users yet: every client will be refused until \`ringkv user add\` adds one`);
  const security: AcceptorSecurity | undefined =
    users !== undefined || key !== undefined ? { ...(users !== undefined ? { users } : {}), ...(key !== undefined ? { clusterKey: key } : {}) } : undefined;
  const stats = new NodeStats(Date.now());
  // What `ringkv stats` says about security (issue #9): whether each kind of peer must authenticate, and how many users exist. Never a secret.
  stats.gauge('authClients', () => (config.auth ? 1 : 0));
  stats.gauge('authNodes', () => (config.clusterSecret !== undefined ? 1 : 0));
  if (users !== undefined) stats.gauge('authUsers', () => users.size);
  const clustered = isClusterNode(config);
  // The memory backend keeps nothing across a restart, so no durability mode applies to it.
  const durability = config.backend === 'memory' ? 'none' : config.durability;
  const backend = await createBackend(config.backend, {
    dir: join(dataDir, 'data'),
    durability,
    syncIntervalMs: config.syncIntervalMs,
    sharedSync: config.sharedSync,
  });
  let hintBackend: StorageBackend | undefined;
  try {
    if (clustered) hintBackend = await createBackend(config.backend, { dir: join(dataDir, 'hints'), durability, syncIntervalMs: config.syncIntervalMs, sharedSync: config.sharedSync });
  } catch (e) {
    await backend.close();
    throw e;
  }
  // Placeholder id until the port is known (port 0 picks one at listen).
  let nodeId = config.nodeId ?? `${config.host}:${config.port}`;
  // Requests that arrive between listen and the replica being ready are refused, retryably.
  const service: KvService = {
    get: (k: Uint8Array, r: number, t: number) => real().get(k, r, t),
    put: (k: Uint8Array, v: Uint8Array | null, c: Uint8Array, w: number, t: number) => real().put(k, v, c, w, t),
    // Forwarded so the server's synchronous write path (memory backend) reaches the real service.
    write: (k: Uint8Array, v: Uint8Array | null, c: Uint8Array, w: number, t: number) => {
      const s = real();
      return s.write !== undefined ? s.write(k, v, c, w, t) : s.put(k, v, c, w, t);
    },
    stats: () => real().stats(),
  };
  let ready: KvService | undefined;
  let cluster: ClusterNode | undefined;
  const real = (): KvService => {
    if (ready === undefined) throw new KvError('KV_UNAVAILABLE', 'node is starting');
    return ready;
  };
  /** Once ready, the server calls the real service's methods directly (no check or forwarding call per request). */
  const serveWith = (s: KvService): void => {
    ready = s;
    service.get = s.get.bind(s);
    service.put = s.put.bind(s);
    if (s.write !== undefined) service.write = s.write.bind(s);
    service.stats = s.stats.bind(s);
  };
  const transport = clustered
    ? new TcpTransport({
        nodeId,
        codec: peerWireCodec,
        clock: realClock,
        connectTimeoutMs: config.peerTimeoutMs,
        maxFrameBytes: config.limits.maxFrameBytes,
        log,
        ...(key !== undefined ? { clusterKey: key } : {}),
        ...(tls !== undefined ? { tls: clientTlsOf(tls) } : {}),
      })
    : undefined;
  const server = new NodeServer({
    host: config.host,
    port: config.port,
    nodeId,
    limits: config.limits,
    service,
    stats,
    log,
    ...(security !== undefined ? { security } : {}),
    ...(tls !== undefined ? { tls } : {}),
    ...(transport !== undefined
      ? {
          peers: transport,
          ringVersion: () => cluster?.ringVersion() ?? 0n,
          ringBody: () => {
            if (cluster === undefined) throw new KvError('KV_UNAVAILABLE', 'node is starting');
            return ringBodyFor(cluster, config.partitionBits, config.n);
          },
          extraStats: () => (cluster === undefined ? {} : clusterStats(cluster.status(), cluster.memberCount())),
          aaeExchange: async (body: Uint8Array) => {
            if (cluster === undefined) throw new KvError('KV_UNAVAILABLE', 'node is starting');
            const q = decodeAaeExchangeRequest(body);
            if (E.isLeft(q)) throw q.left;
            if (q.right.partition >= 2 ** config.partitionBits) throw new KvError('KV_BAD_ARGUMENT', `partition ${q.right.partition} >= ${2 ** config.partitionBits}`);
            const r = await cluster.exchangeNow(q.right.partition, q.right.peer === '' ? undefined : q.right.peer);
            return encodeAaeExchangeReply(r);
          },
          aaeStatus: () => {
            if (cluster === undefined) throw new KvError('KV_UNAVAILABLE', 'node is starting');
            return encodeAaeStatusReply(cluster.status().aae ?? []);
          },
        }
      : {}),
  });
  let port: number;
  try {
    port = await server.listen();
  } catch (e) {
    await backend.close();
    await hintBackend?.close();
    throw e;
  }
  if (config.nodeId === undefined) nodeId = `${config.host}:${port}`;
  (server.options as { nodeId: string }).nodeId = nodeId;
  const replicaId = replicaIdFor(dataDir, nodeId);
  const replica = new Replica({ backend, replicaId, partitionBits: config.partitionBits });
  // Open the partitions that hold data, so their first reads take the synchronous path.
  await replica.openAll(await backend.partitions());
  if (transport !== undefined && hintBackend !== undefined) {
    transport.nodeId = nodeId;
    const incarnation = nextIncarnation(dataDir);
    const savedTrees = config.backend === 'memory' ? undefined : takeSavedTrees(dataDir);
    cluster = new ClusterNode({
      ...(savedTrees !== undefined ? { savedTrees } : {}),
      nodeId,
      address: `${config.host}:${port}`,
      weight: config.weight,
      seeds: config.join,
      incarnation,
      config: {
        n: config.n,
        r: config.r,
        w: config.w,
        partitionBits: config.partitionBits,
        requestTimeoutMs: config.requestTimeoutMs,
        peerTimeoutMs: config.peerTimeoutMs,
        gossipIntervalMs: config.gossipIntervalMs,
        handoffIntervalMs: config.handoffIntervalMs,
        readRepair: config.readRepair,
        handoff: config.hintedHandoff,
        aae: {
          enabled: config.aaeEnabled,
          intervalMs: config.aaeIntervalMs,
          keysPerSec: config.aaeKeysPerSec,
          leafBits: config.aaeLeafBits,
          reap: config.aaeReap,
          reapAfterMs: config.aaeReapAfterMs,
        },
        phiThreshold: config.phiThreshold,
        maxConsecutiveFailures: config.maxConsecutiveFailures,
        maxTransfers: config.maxTransfers,
        transferChunkKeys: config.transferChunkKeys,
        transferRateBytes: config.transferRateBytes,
      },
      replica,
      hintBackend,
      clock: realClock,
      random: mathRandom,
      transport,
      stats,
      log,
    });
    await cluster.start();
    serveWith(cluster);
  } else {
    serveWith(new StandaloneService(replica));
  }
  // Event-loop delay and utilization over the last 10 s (src/node/loop_stats.ts).
  const loop = new LoopStats();
  stats.gauge('eventLoopDelayP50Ms', () => loop.window().delayP50Ms);
  stats.gauge('eventLoopDelayP99Ms', () => loop.window().delayP99Ms);
  stats.gauge('eventLoopDelayMaxMs', () => loop.window().delayMaxMs);
  stats.gauge('eventLoopUtilization', () => loop.window().utilization);
  let ticks = 0;
  const ticker = setInterval(() => {
    stats.tick();
    if (++ticks % LOOP_WINDOW_S === 0) loop.roll();
  }, 1000);
  ticker.unref();
  // Issue 6: a leaving node exits once it owns nothing and has handed every hint off, a few
  // gossip rounds later, so the committed ring it announced reaches the others first.
  let onLeft: () => void = () => undefined;
  const left = new Promise<void>((resolve) => (onLeft = resolve));
  let leftRounds = 0;
  const leaveWatch = setInterval(() => {
    if (cluster?.hasLeft?.() !== true) return void (leftRounds = 0);
    if (++leftRounds < 3) return;
    clearInterval(leaveWatch);
    log('info', `ringkv node ${nodeId} left the cluster: every partition handed off`);
    onLeft();
  }, config.gossipIntervalMs);
  leaveWatch.unref();
  log(
    'info',
    `ringkv node ${nodeId} listening on ${config.host}:${port} (backend ${config.backend}, durability ${durability}, data ${dataDir}, ` +
      (cluster !== undefined ? `cluster N=${config.n} R=${config.r} W=${config.w}${config.join.length > 0 ? `, joining ${config.join.join(',')}` : ''})` : 'standalone)') +
      `; client auth ${config.auth ? 'on' : 'off'}, node auth ${key !== undefined ? 'on' : 'off'}${config.insecure && unsafe === null && !config.auth ? ' (--insecure)' : ''}`,
  );

  let closing: Promise<void> | undefined;
  return {
    nodeId,
    replicaId,
    host: config.host,
    port,
    stats,
    cluster,
    left,
    reloadTls: () => {
      if (tls === undefined) return false;
      const next = loadTlsMaterial(config); // throws, and nothing changes, when the new files are unusable
      if (next === undefined) return false;
      server.setTls(next);
      if (transport !== undefined) transport.tls = clientTlsOf(next);
      log('info', 'TLS certificate, key and CA reloaded: new connections use them');
      return true;
    },
    close: () =>
      (closing ??= (async () => {
        clearInterval(ticker);
        loop.stop();
        clearInterval(leaveWatch);
        // Timers first (no new gossip or handoff), then let client and peer
        // requests in flight finish (they may still need the transport).
        await cluster?.stop();
        await server.close();
        await transport?.close();
        await replica.close();
        // No write can follow now: save the anti-entropy trees for the next start (issue 7).
        if (cluster !== undefined && config.backend !== 'memory') {
          await new Promise((r) => setImmediate(r));
          try {
            saveTrees(dataDir, cluster.antiEntropy.persist());
          } catch (e) {
            log('warn', `anti-entropy trees not saved (the next start rebuilds them): ${(e as Error).message}`);
          }
        }
        await hintBackend?.close();
        log('info', `ringkv node ${nodeId} stopped`);
      })()),
  };
};
