/**
 * A running ringkv node: storage backend + replica + service + TCP server,
 * wired from a decoded NodeConfig.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { KvError } from '../errors.js';
import { createBackend } from '../storage/index.js';
import type { NodeConfig } from './config.js';
import { Replica } from './replica.js';
import { NodeServer } from './server.js';
import { StandaloneService } from './service.js';
import { NodeStats } from './stats.js';

export type LogFn = (level: 'info' | 'warn' | 'error', msg: string) => void;

export interface RunningNode {
  readonly nodeId: string;
  /** The id this node's data carries in version clocks (nodeId + a per-data-dir epoch). */
  readonly replicaId: string;
  readonly host: string;
  readonly port: number;
  readonly stats: NodeStats;
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

export const startNode = async (config: NodeConfig, log: LogFn = () => undefined): Promise<RunningNode> => {
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const stats = new NodeStats(Date.now());
  // The memory backend keeps nothing across a restart, so no durability mode applies to it.
  const durability = config.backend === 'memory' ? 'none' : config.durability;
  const backend = await createBackend(config.backend, {
    dir: join(dataDir, 'data'),
    durability,
    syncIntervalMs: config.syncIntervalMs,
  });
  // Placeholder id until the port is known (port 0 picks one at listen).
  let nodeId = config.nodeId ?? `${config.host}:${config.port}`;
  // Requests that arrive between listen and the replica being ready are refused, retryably.
  const service = {
    get: (k: Uint8Array, r: number, t: number) => real().get(k, r, t),
    put: (k: Uint8Array, v: Uint8Array | null, c: Uint8Array, w: number, t: number) => real().put(k, v, c, w, t),
    stats: () => real().stats(),
  };
  let standalone: StandaloneService | undefined;
  const real = (): StandaloneService => {
    if (standalone === undefined) throw new KvError('KV_UNAVAILABLE', 'node is starting');
    return standalone;
  };
  const server = new NodeServer({ host: config.host, port: config.port, nodeId, limits: config.limits, service, stats, log });
  let port: number;
  try {
    port = await server.listen();
  } catch (e) {
    await backend.close();
    throw e;
  }
  if (config.nodeId === undefined) nodeId = `${config.host}:${port}`;
  (server.options as { nodeId: string }).nodeId = nodeId;
  const replicaId = replicaIdFor(dataDir, nodeId);
  const replica = new Replica({ backend, replicaId, partitionBits: config.partitionBits });
  // Open the partitions that hold data, so their first reads take the synchronous path.
  await replica.openAll(await backend.partitions());
  standalone = new StandaloneService(replica);
  const ticker = setInterval(() => stats.tick(), 1000);
  ticker.unref();
  log('info', `ringkv node ${nodeId} listening on ${config.host}:${port} (backend ${config.backend}, durability ${durability}, data ${dataDir})`);

  let closing: Promise<void> | undefined;
  return {
    nodeId,
    replicaId,
    host: config.host,
    port,
    stats,
    close: () =>
      (closing ??= (async () => {
        clearInterval(ticker);
        await server.close();
        await replica.close();
        log('info', `ringkv node ${nodeId} stopped`);
      })()),
  };
};
