/**
 * The systems the YCSB driver can measure, behind one small interface, so a
 * workload runs the same way against each:
 *
 * - `ringkv`: K node processes started with `ringkv start`: one standalone
 *   node, or a cluster (node 1 `--cluster`, nodes 2..K `--join` node 1);
 * - `ringkv-inproc`: a node inside the bench process (no process hop; shows
 *   what the node costs without the loopback and scheduling between processes);
 * - `redis`: redis-server (started here on a free port when the binary
 *   exists, never installed) through ioredis;
 * - `etcd`: a 3-member etcd cluster (started here when the binary exists,
 *   never installed) through etcd3.
 *
 * ringkv writes carry the causal context of the key's last read or write
 * (kept per key in the adapter, as an application would), so an update
 * overwrites instead of adding a sibling; concurrent writers of one key
 * still make siblings, as Dynamo semantics require.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createClient, type Client } from '../../src/client/index.js';
import { spawnEtcdCluster, spawnRedis, spawnRingkvNode, type Spawned } from '../lib/procs.js';

export interface Target {
  readonly name: string;
  /** What was started, for the report (e.g. `1 node process, memory backend`). */
  readonly description: string;
  /** Server process ids (for CPU accounting); empty when in-process. */
  readonly serverPids: readonly number[];
  /** Resolves true when the key was found. */
  read(key: string): Promise<boolean>;
  update(key: string, value: Buffer): Promise<void>;
  insert(key: string, value: Buffer): Promise<void>;
  /** Reads the key, applies `modify`, writes the result (ringkv: the SDK's `update`). */
  readModifyWrite(key: string, modify: (current: Buffer | undefined) => Buffer): Promise<void>;
  /** Target-specific counters for the report (ringkv: reads that returned siblings). */
  counters(): Readonly<Record<string, number>>;
  close(): Promise<void>;
}

export interface TargetOptions {
  /** Node processes to start (ringkv). */
  readonly nodes: number;
  /** ringkv backend: memory | log | lmdb. */
  readonly backend: string;
  readonly durability: 'none' | 'interval' | 'always';
  /** Client connections per node (ringkv) or connections (redis). */
  readonly connections: number;
  /** ringkv cluster replication; default N = min(3, nodes), majority R and W. */
  readonly replication?: { readonly n: number; readonly r: number; readonly w: number };
}

/** A target that cannot run here; the message says why and what to do. */
export class TargetUnavailable extends Error {
  override readonly name = 'TargetUnavailable';
}

export const TARGET_NAMES = ['ringkv', 'ringkv-inproc', 'redis', 'etcd'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

// ---- ringkv (SDK) ----

const ringkvOps = (client: Client): Pick<Target, 'read' | 'update' | 'insert' | 'readModifyWrite' | 'counters'> => {
  const contexts = new Map<string, Uint8Array>();
  // Concurrent writers of a hot key make siblings; how many shows whether contexts keep them bounded.
  let readsWithSiblings = 0;
  let maxSiblings = 0;
  const write = async (key: string, value: Buffer): Promise<void> => {
    const ctx = contexts.get(key);
    const r = await client.put(key, value, ctx === undefined ? {} : { context: ctx });
    contexts.set(key, r.context);
  };
  // Siblings from concurrent writers of a hot key: keep the first (a benchmark has no merge to make).
  const resolver = (siblings: readonly Buffer[]): Buffer => siblings[0]!;
  return {
    read: async (key) => {
      const r = await client.getRaw(key);
      if (r.context.length > 0) contexts.set(key, r.context);
      if (r.siblings.length > 1) readsWithSiblings++;
      if (r.siblings.length > maxSiblings) maxSiblings = r.siblings.length;
      return r.values.length > 0;
    },
    counters: () => ({ readsWithSiblings, maxSiblings }),
    update: write,
    insert: write,
    readModifyWrite: async (key, modify) => {
      await client.update(key, modify, { resolver });
      // update() does not hand back the new context; the next plain write reads it again.
      contexts.delete(key);
    },
  };
};

/** Flags that make nodes 2..K join node 1 (node 1 itself starts with `--cluster`). */
export const joinArgs = (seedAddress: string): readonly string[] => ['--join', seedAddress];

/** Default replication for K nodes: N = min(3, K) copies, majority quorums. */
export const defaultReplication = (nodes: number): { readonly n: number; readonly r: number; readonly w: number } => {
  const n = Math.min(3, nodes);
  const q = Math.floor(n / 2) + 1;
  return { n, r: q, w: q };
};

/** Resolves once every node's STATS counts `count` cluster members. */
const waitMembers = async (client: Client, nodes: readonly string[], count: number, timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  let seen: number[] = [];
  while (Date.now() < deadline) {
    seen = await Promise.all(nodes.map((node) => client.stats({ node }).then((s) => s['cluster.members'] ?? 0, () => 0)));
    if (seen.every((m) => m === count)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new TargetUnavailable(`the cluster did not see ${count} members within ${timeoutMs} ms (each node saw ${seen.join(', ')})`);
};

/**
 * K node processes. K = 1 is a standalone node (N = R = W = 1); K > 1 is a
 * cluster: node 1 starts with `--cluster`, nodes 2..K with `--join` to node 1,
 * and the run starts once every node sees K members. The client spreads
 * requests over all nodes (each coordinates).
 */
const ringkvProcesses = async (o: TargetOptions): Promise<Target> => {
  const nodes: Spawned[] = [];
  const rep = o.replication ?? defaultReplication(o.nodes);
  const clusterArgs = (i: number): readonly string[] =>
    o.nodes === 1 ? [] : ['--node-id', `n${i + 1}`, '--n', String(rep.n), '--r', String(rep.r), '--w', String(rep.w), ...(i === 0 ? ['--cluster'] : joinArgs(`127.0.0.1:${nodes[0]!.port}`))];
  let client: Client | undefined;
  try {
    for (let i = 0; i < o.nodes; i++) {
      nodes.push(await spawnRingkvNode({ backend: o.backend, ...(o.backend === 'memory' ? {} : { durability: o.durability }), extraArgs: clusterArgs(i) }));
    }
    const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
    client = createClient({ nodes: addresses, connectionsPerNode: o.connections, timeoutMs: 10_000 });
    if (o.nodes > 1) await waitMembers(client, addresses, o.nodes, 30_000);
  } catch (e) {
    await client?.close();
    await Promise.all(nodes.map((n) => n.stop()));
    throw e;
  }
  const c = client;
  const storage = `backend ${o.backend}${o.backend === 'memory' ? '' : `/${o.durability}`}`;
  return {
    name: 'ringkv',
    description: o.nodes === 1 ? `1 node process, ${storage}, ${o.connections} connection(s)` : `${o.nodes} node processes, N=${rep.n} R=${rep.r} W=${rep.w}, ${storage}, ${o.connections} connection(s) per node`,
    serverPids: nodes.map((n) => n.pid),
    ...ringkvOps(c),
    close: async () => {
      await c.close();
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
};

const ringkvInProcess = async (o: TargetOptions): Promise<Target> => {
  const { defaultConfig } = await import('../../src/node/config.js');
  const { startNode } = await import('../../src/node/node.js');
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-ycsb-'));
  const node = await startNode({ ...defaultConfig, backend: o.backend, durability: o.durability, port: 0, dataDir: dir });
  const client = createClient({ nodes: [`127.0.0.1:${node.port}`], connectionsPerNode: o.connections, timeoutMs: 10_000 });
  return {
    name: 'ringkv-inproc',
    description: `a node in the bench process, backend ${o.backend}${o.backend === 'memory' ? '' : `/${o.durability}`}`,
    serverPids: [],
    ...ringkvOps(client),
    close: async () => {
      await client.close();
      await node.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

// ---- redis (ioredis) ----

const redisTarget = async (o: TargetOptions): Promise<Target> => {
  const server = await spawnRedis();
  if (server === undefined) throw new TargetUnavailable('redis-server is not installed (Debian: apt-get install redis-server); the bench never installs anything');
  const conns = Array.from({ length: o.connections }, () => new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true, maxRetriesPerRequest: 1 }));
  try {
    await Promise.all(conns.map((c) => c.connect()));
  } catch (e) {
    conns.forEach((c) => c.disconnect());
    await server.stop();
    throw e;
  }
  let rr = 0;
  const conn = (): Redis => conns[rr++ % conns.length]!;
  return {
    name: 'redis',
    description: `redis-server ${redisVersion()} (no persistence) via ioredis, ${o.connections} connection(s)`,
    serverPids: [server.pid],
    read: async (key) => (await conn().getBuffer(key)) !== null,
    update: async (key, value) => {
      await conn().set(key, value);
    },
    insert: async (key, value) => {
      await conn().set(key, value);
    },
    // As YCSB's Redis binding does it: a read, then a write (not atomic).
    counters: () => ({}),
    readModifyWrite: async (key, modify) => {
      const c = conn();
      const cur = await c.getBuffer(key);
      await c.set(key, modify(cur ?? undefined));
    },
    close: async () => {
      conns.forEach((c) => c.disconnect());
      await server.stop();
    },
  };
};

const redisVersion = (): string => {
  try {
    return /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8', timeout: 5000 }))?.[1] ?? '';
  } catch {
    return '';
  }
};

// ---- etcd (etcd3) ----

const etcdVersion = (): string => {
  try {
    return /etcd Version:\s*(\S+)/.exec(execFileSync('etcd', ['--version'], { encoding: 'utf8', timeout: 5000 }))?.[1] ?? '';
  } catch {
    return '';
  }
};

/**
 * A 3-member etcd cluster started here (loopback ports, temp data dirs,
 * killed by PID at the end) through the etcd3 client, which spreads calls
 * over the members it is given. Reads are etcd's default linearizable reads
 * (a quorum round through the leader), writes go through Raft and an fsync:
 * the replicated, durable store a user would otherwise pick. Read-modify-write
 * is a read then a write, as for Redis.
 */
const etcdTarget = async (o: TargetOptions): Promise<Target> => {
  const cluster = await spawnEtcdCluster(3);
  if (cluster === undefined) throw new TargetUnavailable('etcd is not installed (Debian: apt-get install etcd-server); the bench never installs anything');
  const { Etcd3 } = await import('etcd3');
  const client = new Etcd3({ hosts: [...cluster.clientUrls], dialTimeout: 10_000, defaultCallOptions: () => ({ deadline: Date.now() + 10_000 }) });
  try {
    // The members listen before they have a leader: the first write that succeeds says the cluster is usable.
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await client.put('ringkv-bench-ready').value('1');
        break;
      } catch (e) {
        if (Date.now() > deadline) throw new TargetUnavailable(`the etcd cluster took no write within 30 s: ${(e as Error).message}\n${cluster.output()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } catch (e) {
    client.close();
    await cluster.stop();
    throw e;
  }
  const write = async (key: string, value: Buffer): Promise<void> => {
    await client.put(key).value(value);
  };
  return {
    name: 'etcd',
    description: `etcd ${etcdVersion()} 3-member cluster (fsync per commit) via etcd3, linearizable reads`,
    serverPids: cluster.pids,
    read: async (key) => (await client.get(key).buffer()) !== null,
    update: write,
    insert: write,
    readModifyWrite: async (key, modify) => {
      const cur = await client.get(key).buffer();
      await write(key, modify(cur ?? undefined));
    },
    counters: () => ({}),
    close: async () => {
      client.close();
      await cluster.stop();
    },
  };
};

export const openTarget = (name: TargetName, o: TargetOptions): Promise<Target> => {
  switch (name) {
    case 'ringkv':
      return ringkvProcesses(o);
    case 'ringkv-inproc':
      return ringkvInProcess(o);
    case 'redis':
      return redisTarget(o);
    case 'etcd':
      return etcdTarget(o);
  }
};
