#!/usr/bin/env node
/**
 * The `ringkv` command: run a node, run a local dev cluster, and talk to one.
 *
 * Exit codes: 0 ok, 1 not found, 2 bad usage, 3 unavailable (no node
 * answered, quorum not met, timeout), 4 any other error.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { packageVersion } from '../util/package_root.js';
import { isKvError } from '../errors.js';
import type { ClientTlsOptions } from '../client/tls.js';

export const EXIT = { ok: 0, notFound: 1, usage: 2, unavailable: 3, error: 4 } as const;

const usage = `ringkv ${packageVersion()} — a Dynamo-style replicated key-value store

usage: ringkv <command> [options]

commands:
  start                 run a node
  dev                   run a local cluster of node processes (what \`npm start\` runs)
  get <key>             read a key: its values (siblings) and context
  put <key> <value>     write a value ('-' reads it from stdin)
  delete <key>          delete a key
  stats                 a node's statistics
  status                the cluster as each node sees it: members, up/down, partitions, hints,
                        and per partition its last anti-entropy exchange and keys repaired
  aae --partition P     exchange partition P with another primary now (run by the first --nodes
                        node; --peer ID picks the peer); admin role
  leave --nodes host:port
                        that node hands every partition off to the others, then exits
  remove <node id> --nodes host:port
                        a node that is down for good leaves the ring; its partitions are rebuilt
                        from the surviving replicas (leave and remove need the cluster secret
                        on a secured cluster: --cluster-secret-file or RINGKV_CLUSTER_SECRET)
  user add <name> --role read|readwrite|admin --data <dir>
                        add a user (or change its password and role) in a node's data directory;
                        password from --password-file, RINGKV_PASSWORD or stdin; never a flag
  user remove <name> --data <dir> / user list --data <dir>
  version               print the version

options for get/put/delete/stats:
  --nodes host:port[,host:port...]   nodes to talk to (default 127.0.0.1:7401, or RINGKV_NODES)
  --context <base64>                 causal context from a get (put/delete)
  --w <n> / --r <n>                  write / read quorum for this request
  --timeout-ms <ms>                  request timeout (default 5000)
  --json                             machine-readable output
  --hex                              keys and values are hex (default utf-8)
  --local                            get: read each node's own replica (no quorum, no repair);
                                     one line per node (admin/debug; needs --partition-bits if not 6;
                                     on a secured cluster also --cluster-secret-file or RINGKV_CLUSTER_SECRET)
  --user <name>                      log in as this user (or RINGKV_USER); the password comes from
  --password-file <file>             this file, or RINGKV_PASSWORD, or RINGKV_PASSWORD_FILE
  --tls                              connect with TLS, trusting the system's root CAs
  --tls-ca <file>                    connect with TLS, trusting this CA (PEM; implies --tls)
  --tls-cert <file> --tls-key <file> client certificate, for nodes with --tls-client-auth require
  --tls-servername <name>            name the node certificate must carry (default: the host)
                                     (also RINGKV_TLS_CA, RINGKV_TLS_CERT, RINGKV_TLS_KEY)

options for start (also RINGKV_* environment variables, or --config file.json):
  --host <addr>            listen address (default 127.0.0.1)
  --port <port>            listen port (default 7401; 0 picks one)
  --data <dir>             data directory (default ./ringkv-data)
  --backend <name>         log | memory | lmdb (default log)
  --durability <mode>      none | interval | always (default interval)
  --sync-interval-ms <ms>  fsync period for interval (default 100)
  --shared-sync true|false interval syncs as one syncfs per filesystem for all partitions (default true, Linux);
                           false: an fdatasync per partition file
  --node-id <id>           this node's id (default host:port)
  --cluster                run as a cluster node (the first one; others use --join)
  --join host:port[,...]   join a cluster through these nodes (implies --cluster)
  --n, --r, --w            replicas, read and write quorum (default 3/2/2; cluster only)
  --peer-timeout-ms, --gossip-interval-ms, --handoff-interval-ms (default 1000 each),
  --phi-threshold (default 8), --max-consecutive-failures (default 3),
  --request-timeout-ms (default 5000), --partition-bits (default 6), --weight (default 1)
  --max-frame-bytes, --max-key-bytes, --max-value-bytes, --max-connections,
  --max-in-flight-per-connection, --handshake-timeout-ms, --idle-timeout-ms,
  --max-connections-per-address (default 1000)
  --tls-cert <file> --tls-key <file>  serve TLS only (clients and peers) with this PEM certificate/key
  --tls-ca <file>          CA (PEM) that verifies peers and, with client auth, clients
  --tls-client-auth <mode> none | require (mutual TLS: clients and peers need a CA-signed certificate)
                           SIGHUP re-reads the TLS files (certificate rotation; open connections keep theirs)
  --auth                   clients must log in as a user of <data>/users.json (see \`ringkv user\`)
  --cluster-secret-file <file>  nodes prove to each other they hold this secret (or RINGKV_CLUSTER_SECRET;
                           the same on every node, at least 16 bytes: openssl rand -hex 32 > file)
  --insecure               allow a non-loopback --host without --auth / cluster secret
  --aae-interval-ms <ms>   one anti-entropy exchange (a partition with another primary) this often (default 10000)
  --aae-keys-per-sec <n>   keys an exchange may fetch or push per second (default 1000)
  --aae-leaf-bits <b>      log2 Merkle leaves per partition, equal on every node (default 10)
  --aae-reap-after-ms <ms> a tombstone is reaped only once every member holds it AND it is this old (default 60000)
  --aae-enabled, --aae-reap, --read-repair, --hinted-handoff  true|false (default true; tests turn
                           read repair and handoff off to show anti-entropy heals alone)
  --max-transfers <n>      partitions a joining node pulls at once (default 2)
  --transfer-chunk-keys <n>  keys per transfer chunk, one chunk in flight per transfer (default 128)
  --transfer-rate-bytes <n>  bytes/s a node receives by transfer, all transfers together; 0 = unlimited (default 4194304)

options for dev:
  --nodes <count>          how many node processes (default 3; N=min(3,count), R=W=2 when N=3)
  --base-port <port>       first port (default 7401)
  --data <dir>             parent data directory (default ./ringkv-dev-data)
  --backend, --durability  as for start
  --tls                    make a throwaway CA and node certificates with openssl into <data>/tls
                           and run every node on TLS (the output says how to connect)
  --tls-client-auth require  with --tls: mutual TLS (a client certificate is made too)
`;

const nodeFlags = {
  host: { type: 'string' },
  port: { type: 'string' },
  data: { type: 'string' },
  backend: { type: 'string' },
  durability: { type: 'string' },
  'sync-interval-ms': { type: 'string' },
  'shared-sync': { type: 'string' },
  'node-id': { type: 'string' },
  'partition-bits': { type: 'string' },
  join: { type: 'string' },
  cluster: { type: 'boolean' },
  n: { type: 'string' },
  r: { type: 'string' },
  w: { type: 'string' },
  weight: { type: 'string' },
  'request-timeout-ms': { type: 'string' },
  'peer-timeout-ms': { type: 'string' },
  'gossip-interval-ms': { type: 'string' },
  'handoff-interval-ms': { type: 'string' },
  'phi-threshold': { type: 'string' },
  'max-consecutive-failures': { type: 'string' },
  config: { type: 'string' },
  'max-frame-bytes': { type: 'string' },
  'max-key-bytes': { type: 'string' },
  'max-value-bytes': { type: 'string' },
  'max-connections': { type: 'string' },
  'max-in-flight-per-connection': { type: 'string' },
  'handshake-timeout-ms': { type: 'string' },
  'idle-timeout-ms': { type: 'string' },
  // Security (#9): the secret itself is never a flag (flags show in `ps`).
  auth: { type: 'boolean' },
  'cluster-secret-file': { type: 'string' },
  insecure: { type: 'boolean' },
  'max-connections-per-address': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-client-auth': { type: 'string' },
  quiet: { type: 'boolean' },
  // Anti-entropy (#7): values true/false for the switches.
  'aae-enabled': { type: 'string' },
  'aae-interval-ms': { type: 'string' },
  'aae-keys-per-sec': { type: 'string' },
  'aae-leaf-bits': { type: 'string' },
  'aae-reap': { type: 'string' },
  'aae-reap-after-ms': { type: 'string' },
  'read-repair': { type: 'string' },
  'hinted-handoff': { type: 'string' },
  // Elastic membership (#6).
  'max-transfers': { type: 'string' },
  'transfer-chunk-keys': { type: 'string' },
  'transfer-rate-bytes': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

const clientFlags = {
  nodes: { type: 'string' },
  context: { type: 'string' },
  w: { type: 'string' },
  r: { type: 'string' },
  'timeout-ms': { type: 'string' },
  json: { type: 'boolean' },
  hex: { type: 'boolean' },
  local: { type: 'boolean' },
  'partition-bits': { type: 'string' },
  user: { type: 'string' },
  'password-file': { type: 'string' },
  'cluster-secret-file': { type: 'string' },
  tls: { type: 'boolean' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-servername': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

const userFlags = {
  data: { type: 'string' },
  role: { type: 'string' },
  'password-file': { type: 'string' },
  iterations: { type: 'string' },
  json: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

/** Login options for createClient from --user/--password-file; createClient reads RINGKV_USER/RINGKV_PASSWORD itself. */
const loginOptions = (values: { user?: string; 'password-file'?: string }): { user?: string; passwordFile?: string } => ({
  ...(values.user !== undefined ? { user: values.user } : {}),
  ...(values['password-file'] !== undefined ? { passwordFile: values['password-file'] } : {}),
});

class UsageError extends Error {}

const camel = (s: string): string => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

const parse = <O extends NonNullable<ParseArgsConfig['options']>>(args: readonly string[], options: O) => {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
};

const log = (quiet: boolean) => (level: 'info' | 'warn' | 'error', msg: string) => {
  if (quiet && level === 'info') return;
  const line = `${new Date().toISOString()} ${level} ${msg}`;
  if (level === 'info') console.log(line);
  else console.error(line);
};

const start = async (args: readonly string[]): Promise<number> => {
  const { values } = parse(args, nodeFlags);
  const flags: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) {
    if (k === 'config' || k === 'quiet') continue;
    flags[k === 'data' ? 'dataDir' : camel(k)] = v;
  }
  const { decodeConfig } = await import('../node/config.js');
  const decoded = decodeConfig({ flags, env: process.env, file: values.config ?? process.env['RINGKV_CONFIG'] });
  if (E.isLeft(decoded)) throw new UsageError(decoded.left.message);
  const { startNode } = await import('../node/node.js');
  // SIGHUP: read the TLS files again (certificate rotation without a restart).
  // Installed first: by default SIGHUP would end a node that is still starting.
  let running: Awaited<ReturnType<typeof startNode>> | undefined;
  process.on('SIGHUP', () => {
    const at = new Date().toISOString();
    if (running === undefined) {
      console.log(`${at} info SIGHUP: the node is still starting; send it again once it is up`);
      return;
    }
    try {
      if (!running.reloadTls()) console.log(`${at} info SIGHUP: no TLS configured, nothing to reload`);
    } catch (e) {
      console.error(`${at} error SIGHUP: TLS files not reloaded, the old ones stay in use: ${(e as Error).message}`);
    }
  });
  const node = await startNode(decoded.right, log(values.quiet === true));
  running = node;
  const stop = (signal: string) => {
    console.log(`${new Date().toISOString()} info ${signal}: finishing in-flight requests, syncing, closing`);
    node.close().then(
      () => process.exit(0),
      (e) => {
        console.error(e);
        process.exit(EXIT.error);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  void node.left.then(() => stop('left the cluster'));
  return new Promise<number>(() => undefined); // runs until a signal (or until it left the cluster)
};

const encodeArg = (s: string, hex: boolean): Buffer => {
  if (!hex) return Buffer.from(s, 'utf8');
  if (!/^([0-9a-fA-F]{2})*$/.test(s)) throw new UsageError(`not hex: ${s}`);
  return Buffer.from(s, 'hex');
};

const show = (b: Uint8Array, hex: boolean): string => Buffer.from(b).toString(hex ? 'hex' : 'utf8');

const intFlag = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} must be a non-negative integer`);
  return Number(v);
};

/**
 * The client side of TLS (issue #9) from flags, else RINGKV_TLS_* variables;
 * undefined: plaintext. Files are read here, the SDK takes PEM contents.
 */
const clientTls = (values: { tls?: boolean; 'tls-ca'?: string; 'tls-cert'?: string; 'tls-key'?: string; 'tls-servername'?: string }): ClientTlsOptions | undefined => {
  const env = process.env;
  const ca = values['tls-ca'] ?? env['RINGKV_TLS_CA'];
  const cert = values['tls-cert'] ?? env['RINGKV_TLS_CERT'];
  const key = values['tls-key'] ?? env['RINGKV_TLS_KEY'];
  const servername = values['tls-servername'];
  if (values.tls !== true && ca === undefined && cert === undefined && servername === undefined) return undefined;
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new UsageError(`cannot read the TLS ${what} file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  return {
    ...(ca !== undefined ? { ca: read('CA', ca) } : {}),
    ...(cert !== undefined && key !== undefined ? { cert: read('certificate', cert), key: read('key', key) } : {}),
    ...(servername !== undefined ? { servername } : {}),
  };
};

const clientCommand = async (cmd: string, args: readonly string[]): Promise<number> => {
  const { values, positionals } = parse(args, clientFlags);
  const tls = clientTls(values);
  const hex = values.hex === true;
  const json = values.json === true;
  const nodes = (values.nodes ?? process.env['RINGKV_NODES'] ?? '127.0.0.1:7401').split(',').filter((s) => s !== '');
  const timeoutMs = intFlag('timeout-ms', values['timeout-ms']);
  const w = intFlag('w', values.w);
  const r = intFlag('r', values.r);
  let context: Uint8Array | undefined;
  if (values.context !== undefined) {
    if (!/^[A-Za-z0-9+/=_-]*$/.test(values.context)) throw new UsageError('--context must be base64');
    context = Buffer.from(values.context, 'base64');
  }
  const need = cmd === 'put' ? 2 : cmd === 'stats' || cmd === 'status' ? 0 : 1;
  if (values.local === true && cmd !== 'get') throw new UsageError('--local applies to get only');
  if (cmd === 'get' && values.local === true) {
    if (positionals.length !== 1) throw new UsageError('get takes <key>');
    const { Secret, readSecretFile } = await import('../auth/secret.js');
    const secretFile = values['cluster-secret-file'] ?? process.env['RINGKV_CLUSTER_SECRET_FILE'];
    const envSecret = process.env['RINGKV_CLUSTER_SECRET'];
    const clusterSecret = secretFile !== undefined ? readSecretFile(secretFile, 'cluster secret') : envSecret !== undefined ? new Secret(envSecret) : undefined;
    return getLocal(nodes, encodeArg(positionals[0]!, hex), intFlag('partition-bits', values['partition-bits']) ?? 6, timeoutMs ?? 5000, json, hex, clusterSecret, tls);
  }
  if (cmd === 'status') return status(nodes, timeoutMs ?? 5000, json, loginOptions(values), tls);
  if (positionals.length !== need) throw new UsageError(`${cmd} takes ${need === 2 ? '<key> <value>' : need === 1 ? '<key>' : 'no arguments'}`);
  const { createClient } = await import('../client/index.js');
  const client = createClient({ nodes, ...(timeoutMs !== undefined ? { timeoutMs } : {}), retries: 2, ...loginOptions(values), ...(tls !== undefined ? { tls } : {}) });
  try {
    switch (cmd) {
      case 'get': {
        const res = await client.getRaw(encodeArg(positionals[0]!, hex), { ...(r !== undefined ? { r } : {}) });
        const ctx = Buffer.from(res.context).toString('base64');
        if (json) {
          console.log(JSON.stringify({ found: res.values.length > 0, values: res.values.map((v) => show(v, hex)), siblings: res.siblings.length, deleted: res.siblings.some((s) => s.tombstone), context: ctx }));
        } else if (res.values.length === 0) {
          console.error('not found');
        } else {
          if (res.values.length > 1) console.error(`${res.values.length} siblings (concurrent writes); pass --context to the next put to resolve them`);
          for (const v of res.values) console.log(show(v, hex));
          console.error(`context: ${ctx}`);
        }
        return res.values.length === 0 ? EXIT.notFound : EXIT.ok;
      }
      case 'put': {
        const raw = positionals[1] === '-' ? readFileSync(0) : encodeArg(positionals[1]!, hex);
        const res = await client.put(encodeArg(positionals[0]!, hex), raw, { ...(context ? { context } : {}), ...(w !== undefined ? { w } : {}) });
        const ctx = Buffer.from(res.context).toString('base64');
        console.log(json ? JSON.stringify({ ok: true, context: ctx }) : `ok (context: ${ctx})`);
        return EXIT.ok;
      }
      case 'delete': {
        const res = await client.delete(encodeArg(positionals[0]!, hex), { ...(context ? { context } : {}), ...(w !== undefined ? { w } : {}) });
        const ctx = Buffer.from(res.context).toString('base64');
        console.log(json ? JSON.stringify({ ok: true, context: ctx }) : `deleted (context: ${ctx})`);
        return EXIT.ok;
      }
      case 'stats': {
        const stats = await client.stats();
        if (json) console.log(JSON.stringify(stats));
        else for (const [k, v] of Object.entries(stats).sort(([a], [b]) => (a < b ? -1 : 1))) console.log(`${k.padEnd(36)} ${v}`);
        return EXIT.ok;
      }
    }
    throw new UsageError(`unknown command ${cmd}`);
  } finally {
    await client.close();
  }
};

/** One line per node: what its own replica holds for the key. */
const getLocal = async (
  nodes: readonly string[],
  key: Uint8Array,
  partitionBits: number,
  timeoutMs: number,
  json: boolean,
  hex: boolean,
  clusterSecret: import('../auth/secret.js').Secret | undefined,
  tls: ClientTlsOptions | undefined,
): Promise<number> => {
  const { readReplicaAt } = await import('../node/node.js');
  let found = false;
  let failed = false;
  for (const address of nodes) {
    try {
      const res = await readReplicaAt(address, key, { partitionBits, timeoutMs, ...(clusterSecret !== undefined ? { clusterSecret } : {}), ...(tls !== undefined ? { tls } : {}) });
      found ||= res.found;
      const values = res.siblings.filter((s) => !s.tombstone).map((s) => show(s.value, hex));
      const deleted = res.siblings.length > 0 && values.length === 0;
      if (json) console.log(JSON.stringify({ node: address, found: res.found, values, siblings: res.siblings.length, deleted, context: Buffer.from(res.context).toString('base64') }));
      else console.log(`${address}  ${res.siblings.length === 0 ? '(absent)' : deleted ? '(deleted)' : values.join(' | ')}`);
    } catch (e) {
      failed = true;
      if (json) console.log(JSON.stringify({ node: address, error: isKvError(e) ? e.code : String(e) }));
      else console.log(`${address}  error: ${(e as Error).message}`);
    }
  }
  return failed ? EXIT.unavailable : found ? EXIT.ok : EXIT.notFound;
};

const STATUS_NAMES = ['joining', 'up', 'leaving', 'down', 'removed'];

/** Parses the `cluster.*` STATS names (see clusterStats in src/node/node.ts) back into a view. */
export const parseClusterStats = (stats: Readonly<Record<string, number>>) => {
  const members = new Map<string, Record<string, number>>();
  const hints: Record<string, number> = {};
  const aae = new Map<number, Record<string, number>>();
  const transfers = new Map<number, Record<string, number>>();
  for (const [name, value] of Object.entries(stats)) {
    if (name.startsWith('cluster.transfer.')) {
      const [p, field] = name.slice('cluster.transfer.'.length).split('.');
      const t = transfers.get(Number(p)) ?? {};
      t[field ?? ''] = value;
      transfers.set(Number(p), t);
      continue;
    }
    if (name.startsWith('cluster.member.')) {
      const rest = name.slice('cluster.member.'.length);
      const dot = rest.lastIndexOf('.');
      if (dot <= 0) continue;
      const id = rest.slice(0, dot);
      const m = members.get(id) ?? {};
      m[rest.slice(dot + 1)] = value;
      members.set(id, m);
    } else if (name.startsWith('cluster.hints_pending.')) {
      hints[name.slice('cluster.hints_pending.'.length)] = value;
    } else if (name.startsWith('cluster.aae.')) {
      const [p, field] = name.slice('cluster.aae.'.length).split('.');
      const a = aae.get(Number(p)) ?? {};
      a[field ?? ''] = value;
      aae.set(Number(p), a);
    }
  }
  return {
    clustered: 'cluster.members' in stats,
    memberCount: stats['cluster.members'] ?? 0,
    partitionsHeld: stats['cluster.partitions_held'] ?? 0,
    members: [...members.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([id, m]) => ({
        id,
        up: m['up'] === 1,
        status: STATUS_NAMES[m['status'] ?? -1] ?? 'unknown',
        phi: m['phi'] ?? 0,
        incarnation: m['incarnation'] ?? 0,
        heartbeat: m['heartbeat'] ?? 0,
        partitions: m['partitions'] ?? 0,
      })),
    hintsPending: hints,
    ringEpoch: stats['cluster.ring_epoch'] ?? 0,
    ringPending: stats['cluster.ring_pending'] === 1,
    transfersPending: stats['cluster.transfers_pending'] ?? 0,
    transfers: [...transfers.entries()]
      .sort(([a], [b]) => a - b)
      .map(([partition, t]) => {
        // Source and target are indexes into the sorted member ids (STATS carries numbers only).
        const ids = [...members.keys()].sort();
        return {
          partition,
          source: ids[t['source'] ?? -1] ?? '?',
          target: ids[t['target'] ?? -1] ?? '?',
          keys: t['keys'] ?? 0,
          keysTotal: t['keys_total'] ?? 0,
          bytes: t['bytes'] ?? 0,
          bytesPerSec: t['bytes_per_sec'] ?? 0,
          etaMs: t['eta_ms'] ?? -1,
        };
      }),
    aae: [...aae.entries()]
      .sort(([a], [b]) => a - b)
      .map(([partition, a]) => ({
        partition,
        lastExchangeMs: a['last_exchange_ms'] ?? 0,
        lastKeysRepaired: a['last_keys_repaired'] ?? 0,
        keysRepaired: a['keys_repaired'] ?? 0,
        tombstones: a['tombstones'] ?? 0,
      })),
  };
};

/**
 * `ringkv leave --nodes host:port` (that node hands every partition off, then
 * exits) and `ringkv remove NODE --nodes host:port` (NODE is down for good:
 * the others rebuild its partitions from the surviving replicas). Issue #6.
 * Sent over a node connection (role `node`), as `get --local` reads.
 */
const membershipCommand = async (cmd: 'leave' | 'remove', args: readonly string[]): Promise<number> => {
  const { values, positionals } = parse(args, clientFlags);
  const node = cmd === 'remove' ? positionals[0] : '';
  if (cmd === 'remove' ? positionals.length !== 1 : positionals.length !== 0) throw new UsageError(cmd === 'remove' ? 'remove takes <node id>' : 'leave takes no arguments (--nodes names the node that leaves)');
  const nodes = (values.nodes ?? process.env['RINGKV_NODES'] ?? '127.0.0.1:7401').split(',').filter((s) => s !== '');
  if (cmd === 'leave' && nodes.length !== 1) throw new UsageError('leave names one node: --nodes host:port');
  const timeoutMs = intFlag('timeout-ms', values['timeout-ms']) ?? 5000;
  const { Secret, readSecretFile } = await import('../auth/secret.js');
  const secretFile = values['cluster-secret-file'] ?? process.env['RINGKV_CLUSTER_SECRET_FILE'];
  const envSecret = process.env['RINGKV_CLUSTER_SECRET'];
  const clusterSecret = secretFile !== undefined ? readSecretFile(secretFile, 'cluster secret') : envSecret !== undefined ? new Secret(envSecret) : undefined;
  const tls = clientTls(values);
  const { adminAt } = await import('../node/node.js');
  let last: unknown;
  for (const address of nodes) {
    try {
      await adminAt(address, cmd, node ?? '', { timeoutMs, ...(clusterSecret !== undefined ? { clusterSecret } : {}), ...(tls !== undefined ? { tls } : {}) });
      console.log(
        cmd === 'leave'
          ? `${address}: leaving; it hands its partitions off and exits (watch with ringkv status)`
          : `${node} removed (told ${address}); its partitions are rebuilt from the other replicas`,
      );
      return EXIT.ok;
    } catch (e) {
      last = e;
    }
  }
  console.error(`${cmd}: ${last instanceof Error ? last.message : String(last)}`);
  return isKvError(last) && last.code === 'KV_BAD_ARGUMENT' ? EXIT.usage : EXIT.unavailable;
};

/** `ringkv aae --partition P [--peer ID] --nodes host:port`: one anti-entropy exchange now, run by that node. */
const aaeCommand = async (args: readonly string[]): Promise<number> => {
  const { values } = parse(args, { ...clientFlags, partition: { type: 'string' }, peer: { type: 'string' } });
  const partition = intFlag('partition', values.partition);
  if (partition === undefined) throw new UsageError('aae needs --partition P');
  const node = (values.nodes ?? process.env['RINGKV_NODES'] ?? '127.0.0.1:7401').split(',')[0]!;
  const timeoutMs = intFlag('timeout-ms', values['timeout-ms']) ?? 60_000;
  const { createClient } = await import('../client/index.js');
  const tls = clientTls(values);
  const client = createClient({ nodes: [node], timeoutMs, retries: 0, ...loginOptions(values), ...(tls !== undefined ? { tls } : {}) });
  try {
    const r = await client.aaeExchange(partition, values.peer ?? '');
    if (values.json === true) console.log(JSON.stringify({ node, ...r }));
    else {
      console.log(
        `${node}: partition ${r.partition} exchanged with ${r.peer}: ${r.segmentsCompared} tree nodes compared, ${r.differingSegments} segments differed, ` +
          `${r.keysDiffering} keys differed, ${r.keysRepaired} repaired, ${r.bytesSent} bytes sent, ${r.tombstonesReaped} tombstones reaped`,
      );
    }
    return EXIT.ok;
  } finally {
    await client.close();
  }
};

const status = async (nodes: readonly string[], timeoutMs: number, json: boolean, login: { user?: string; passwordFile?: string } = {}, tls?: ClientTlsOptions): Promise<number> => {
  const { createClient } = await import('../client/index.js');
  let failed = false;
  for (const address of nodes) {
    const client = createClient({ nodes: [address], timeoutMs, retries: 0, ...login, ...(tls !== undefined ? { tls } : {}) });
    try {
      const view = parseClusterStats(await client.stats());
      if (json) {
        console.log(JSON.stringify({ node: address, ...view }));
        continue;
      }
      if (!view.clustered) {
        console.log(`${address}: standalone node (not in a cluster)`);
        continue;
      }
      const hints = Object.entries(view.hintsPending).filter(([, n]) => n > 0);
      const aaeLines = view.aae.map(
        (a) =>
          `  partition ${String(a.partition).padStart(4)}: last exchanged ${a.lastExchangeMs === 0 ? 'never' : new Date(a.lastExchangeMs).toISOString()}, ` +
          `${a.lastKeysRepaired} keys repaired then, ${a.keysRepaired} since start, ${a.tombstones} tombstones held`,
      );
      console.log(`${address}: ${view.memberCount} members, holds replicas of ${view.partitionsHeld} partitions, hints pending: ${hints.length === 0 ? 'none' : hints.map(([id, n]) => `${id}=${n}`).join(' ')}`);
      console.log(`  ${'member'.padEnd(22)} ${'seen as'.padEnd(8)} ${'gossip'.padEnd(8)} ${'phi'.padStart(7)} ${'incarn.'.padStart(7)} ${'heartbeat'.padStart(9)} ${'owns'.padStart(5)}`);
      for (const m of view.members) {
        const phi = Number.isFinite(m.phi) ? m.phi.toFixed(2) : 'inf';
        console.log(`  ${m.id.padEnd(22)} ${(m.up ? 'up' : 'DOWN').padEnd(8)} ${m.status.padEnd(8)} ${phi.padStart(7)} ${String(m.incarnation).padStart(7)} ${String(m.heartbeat).padStart(9)} ${String(m.partitions).padStart(5)}`);
      }
      console.log(`  ring epoch ${view.ringEpoch}${view.ringPending ? `, change in progress: ${view.transfersPending} partition transfers left` : ', settled'}`);
      for (const t of view.transfers) {
        const eta = t.etaMs < 0 ? '?' : `${(t.etaMs / 1000).toFixed(1)} s`;
        console.log(
          `  transfer partition ${String(t.partition).padStart(4)} ${t.source} -> ${t.target}: ${t.keys}/${t.keysTotal} keys, ${(t.bytes / 1048576).toFixed(2)} MiB, ` +
            `${(t.bytesPerSec / 1048576).toFixed(2)} MiB/s, ETA ${eta}`,
        );
      }
      console.log(aaeLines.length === 0 ? '  anti-entropy: no exchange yet' : '  anti-entropy:');
      for (const l of aaeLines) console.log(l);
    } catch (e) {
      failed = true;
      if (json) console.log(JSON.stringify({ node: address, error: isKvError(e) ? e.code : String(e) }));
      else console.log(`${address}: unreachable (${(e as Error).message})`);
    } finally {
      await client.close();
    }
  }
  return failed ? EXIT.unavailable : EXIT.ok;
};

/** The whole of stdin, for a password piped in (`… | ringkv user add app --role read --data d`). */
const readStdin = async (): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
};

/** `ringkv user add|remove|list`: edits <data>/users.json (per node; copy it to every node). */
const user = async (args: readonly string[]): Promise<number> => {
  const { values, positionals } = parse(args, userFlags);
  const [sub, name, ...extra] = positionals;
  if (values.data === undefined) throw new UsageError('user commands need --data <the node\'s data directory>');
  const dataDir = values.data;
  const users = await import('../auth/users.js');
  const { Secret, readSecretFile } = await import('../auth/secret.js');
  switch (sub) {
    case 'add': {
      if (name === undefined || extra.length > 0) throw new UsageError('user add takes <name>');
      const { isUserRole } = await import('../auth/roles.js');
      if (!isUserRole(values.role)) throw new UsageError('user add needs --role read, readwrite or admin');
      let password: InstanceType<typeof Secret>;
      if (values['password-file'] !== undefined) password = readSecretFile(values['password-file'], 'password');
      else if (process.env['RINGKV_PASSWORD'] !== undefined) password = new Secret(process.env['RINGKV_PASSWORD']);
      else if (process.stdin.isTTY) throw new UsageError('give the password with --password-file, RINGKV_PASSWORD or on stdin (it is never a flag)');
      else password = new Secret((await readStdin()).toString('utf8').replace(/\r?\n$/, ''));
      const iterations = intFlag('iterations', values.iterations);
      const existed = users.addUser(dataDir, name, values.role, password, iterations);
      console.log(`${existed ? 'updated' : 'added'} user ${name} (${values.role}) in ${users.usersPath(dataDir)}; copy this file to every node of the cluster`);
      return EXIT.ok;
    }
    case 'remove': {
      if (name === undefined || extra.length > 0) throw new UsageError('user remove takes <name>');
      if (!users.removeUser(dataDir, name)) {
        console.error(`no user ${name} in ${users.usersPath(dataDir)}`);
        return EXIT.notFound;
      }
      console.log(`removed user ${name}; copy ${users.usersPath(dataDir)} to every node of the cluster`);
      return EXIT.ok;
    }
    case 'list': {
      if (name !== undefined) throw new UsageError('user list takes no arguments');
      const list = users.listUsers(dataDir);
      if (values.json === true) console.log(JSON.stringify(list));
      else if (list.length === 0) console.log(`no users in ${users.usersPath(dataDir)}`);
      else for (const u of list) console.log(`${u.user.padEnd(24)} ${u.role}`);
      return EXIT.ok;
    }
    default:
      throw new UsageError('user takes add, remove or list');
  }
};

const dev = async (args: readonly string[]): Promise<number> => {
  const { runDev } = await import('./dev.js');
  return runDev(args);
};

export const main = async (argv: readonly string[]): Promise<number> => {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'version':
      case '--version':
        console.log(packageVersion());
        return EXIT.ok;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(usage);
        return cmd === undefined ? EXIT.usage : EXIT.ok;
      case 'start':
        return await start(rest);
      case 'user':
        return await user(rest);
      case 'dev':
        return await dev(rest);
      case 'aae':
        return await aaeCommand(rest);
      case 'leave':
      case 'remove':
        return await membershipCommand(cmd, rest);
      case 'get':
      case 'put':
      case 'delete':
      case 'stats':
      case 'status':
        return await clientCommand(cmd, rest);
      default:
        throw new UsageError(`unknown command '${cmd}'`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`ringkv: ${e.message}\nrun 'ringkv help' for usage`);
      return EXIT.usage;
    }
    if (isKvError(e)) {
      console.error(`ringkv: ${e.message}`);
      if (e.code === 'KV_BAD_ARGUMENT' || e.code === 'KV_TOO_LARGE') return EXIT.usage;
      if (e.code === 'KV_UNAVAILABLE' || e.code === 'KV_TIMEOUT' || e.code === 'KV_OVERLOADED') return EXIT.unavailable;
      return EXIT.error;
    }
    console.error(`ringkv: ${(e as Error)?.stack ?? String(e)}`);
    return EXIT.error;
  }
};

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
