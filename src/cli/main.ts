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
  version               print the version

options for get/put/delete/stats:
  --nodes host:port[,host:port...]   nodes to talk to (default 127.0.0.1:7401, or RINGKV_NODES)
  --context <base64>                 causal context from a get (put/delete)
  --w <n> / --r <n>                  write / read quorum for this request
  --timeout-ms <ms>                  request timeout (default 5000)
  --json                             machine-readable output
  --hex                              keys and values are hex (default utf-8)

options for start (also RINGKV_* environment variables, or --config file.json):
  --host <addr>            listen address (default 127.0.0.1)
  --port <port>            listen port (default 7401; 0 picks one)
  --data <dir>             data directory (default ./ringkv-data)
  --backend <name>         log | memory | lmdb (default log)
  --durability <mode>      none | interval | always (default interval)
  --sync-interval-ms <ms>  fsync period for interval (default 100)
  --node-id <id>           this node's id (default host:port)
  --max-frame-bytes, --max-key-bytes, --max-value-bytes, --max-connections,
  --max-in-flight-per-connection, --handshake-timeout-ms, --idle-timeout-ms

options for dev:
  --nodes <count>          how many node processes (default 1)
  --base-port <port>       first port (default 7401)
  --data <dir>             parent data directory (default ./ringkv-dev-data)
  --backend, --durability  as for start
`;

const nodeFlags = {
  host: { type: 'string' },
  port: { type: 'string' },
  data: { type: 'string' },
  backend: { type: 'string' },
  durability: { type: 'string' },
  'sync-interval-ms': { type: 'string' },
  'node-id': { type: 'string' },
  'partition-bits': { type: 'string' },
  join: { type: 'string' },
  config: { type: 'string' },
  'max-frame-bytes': { type: 'string' },
  'max-key-bytes': { type: 'string' },
  'max-value-bytes': { type: 'string' },
  'max-connections': { type: 'string' },
  'max-in-flight-per-connection': { type: 'string' },
  'handshake-timeout-ms': { type: 'string' },
  'idle-timeout-ms': { type: 'string' },
  quiet: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

const clientFlags = {
  nodes: { type: 'string' },
  context: { type: 'string' },
  w: { type: 'string' },
  r: { type: 'string' },
  'timeout-ms': { type: 'string' },
  json: { type: 'boolean' },
  hex: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

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
  const node = await startNode(decoded.right, log(values.quiet === true));
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
  return new Promise<number>(() => undefined); // runs until a signal
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

const clientCommand = async (cmd: string, args: readonly string[]): Promise<number> => {
  const { values, positionals } = parse(args, clientFlags);
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
  const need = cmd === 'put' ? 2 : cmd === 'stats' ? 0 : 1;
  if (positionals.length !== need) throw new UsageError(`${cmd} takes ${need === 2 ? '<key> <value>' : need === 1 ? '<key>' : 'no arguments'}`);
  const { createClient } = await import('../client/index.js');
  const client = createClient({ nodes, ...(timeoutMs !== undefined ? { timeoutMs } : {}), retries: 2 });
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
      case 'dev':
        return await dev(rest);
      case 'get':
      case 'put':
      case 'delete':
      case 'stats':
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
