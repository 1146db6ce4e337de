/**
 * Helpers for cluster tests: a harness that runs real `ringkv start` node
 * processes on loopback and ends only the PIDs it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { createClient } from '../../src/client/index.js';
import { makeRing, type Ring } from '../../src/core/ring.js';
import { decodeRingBody, ringOwnerIds } from '../../protocol/peer.js';
import { RawConn } from './node.js';

// ---------------------------------------------------------------- processes

/** A free loopback port, and whether a port accepts connections (one copy, shared with the benches). */
export { freePort, canConnect } from '../../bench/lib/procs.js';
import { freePort } from '../../bench/lib/procs.js';

const root = new URL('../..', import.meta.url).pathname;

const portFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/** A loopback port with the `count - 1` after it free too (`ringkv dev --base-port` takes consecutive ports). */
export const freeBasePort = async (count: number): Promise<number> => {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let free = true;
    for (let i = 0; i < count && free; i++) free = await portFree(base + i);
    if (free) return base;
  }
};

/** A `ringkv dev` process this test started: what it printed so far, and when it exits. */
export interface DevRun {
  readonly child: ChildProcess;
  /** Everything it printed, stdout and stderr (for waiting on and for failure messages). */
  readonly out: string;
  readonly exited: Promise<number | null>;
  /** Ends it (SIGTERM) unless it already ended; for a `finally`. */
  stop(): Promise<void>;
}

/** Starts `ringkv dev ARGS` (under tsx). */
export const startDev = (args: readonly string[]): DevRun => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'dev', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    get out() {
      return out;
    },
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
};

export interface NodeProc {
  readonly id: string;
  readonly port: number;
  readonly address: string;
  readonly dataDir: string;
  child: ChildProcess | undefined;
  /** Everything the process printed (for failure messages). */
  output: string;
}

export interface ProcClusterOptions {
  readonly nodes: number;
  /** Extra `ringkv start` flags for every node. */
  readonly flags?: readonly string[];
}

/**
 * Real node processes (`node --import tsx src/cli/main.ts start ...`): n1 with
 * `--cluster`, the rest with `--join` n1. Tracks its own PIDs only.
 */
export class ProcCluster {
  readonly dir: string;
  readonly nodes: NodeProc[] = [];
  private readonly flags: readonly string[];

  private constructor(dir: string, flags: readonly string[]) {
    this.dir = dir;
    this.flags = flags;
  }

  static async create(options: ProcClusterOptions): Promise<ProcCluster> {
    const c = new ProcCluster(mkdtempSync(join(tmpdir(), 'ringkv-proc-')), options.flags ?? []);
    for (let i = 0; i < options.nodes; i++) {
      const port = await freePort();
      c.nodes.push({ id: `n${i + 1}`, port, address: `127.0.0.1:${port}`, dataDir: join(c.dir, `n${i + 1}`), child: undefined, output: '' });
    }
    return c;
  }

  get addresses(): string[] {
    return this.nodes.map((n) => n.address);
  }

  /** Starts (or restarts) node `i`. */
  start(i: number): void {
    const n = this.nodes[i]!;
    const args = ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'start', '--host', '127.0.0.1', '--port', String(n.port), '--data', n.dataDir, '--node-id', n.id, ...this.flags];
    if (i === 0) args.push('--cluster');
    else args.push('--join', this.nodes[0]!.address);
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
    n.child = child;
    const keep = (d: Buffer) => {
      n.output += d.toString();
      if (n.output.length > 200_000) n.output = n.output.slice(-100_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
  }

  startAll(): void {
    for (let i = 0; i < this.nodes.length; i++) this.start(i);
  }

  /** Sends `signal` to node i's process (our own PID only). */
  signal(i: number, signal: NodeJS.Signals): void {
    const c = this.nodes[i]!.child;
    if (c?.pid !== undefined && c.exitCode === null && c.signalCode === null) process.kill(c.pid, signal);
  }

  /** kill -9 and wait for the exit. */
  async kill(i: number): Promise<void> {
    const c = this.nodes[i]!.child;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    this.signal(i, 'SIGKILL');
    await exited;
  }

  /** Graceful stop of every node still running, SIGKILL after `graceMs`, then removes the data. */
  async destroy(graceMs = 5000): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n, i) => {
        const c = n.child;
        if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
        const exited = new Promise<void>((r) => c.once('exit', () => r()));
        this.signal(i, 'SIGCONT'); // a stopped process cannot handle SIGTERM
        this.signal(i, 'SIGTERM');
        const t = setTimeout(() => this.signal(i, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(t);
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls `cond` every `everyMs` until it holds or `timeoutMs` passes; returns whether it held. */
export const waitFor = async (cond: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 100): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await cond()) return true;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
};

/** One node's STATS as a name → value map (a fresh connection, no retries). */
export const statsOf = async (address: string): Promise<Record<string, number>> => {
  const client = createClient({ nodes: [address], timeoutMs: 1000, retries: 0 });
  try {
    return await client.stats();
  } finally {
    await client.close();
  }
};

/** Whether `viewer` currently considers `member` up (its cluster.member.<id>.up figure). */
export const seesUp = async (viewer: string, member: string): Promise<boolean> => (await statsOf(viewer))[`cluster.member.${member}.up`] === 1;

/** Waits until every listed node counts `count` members. */
export const waitMembers = (addresses: readonly string[], count: number, timeoutMs: number): Promise<boolean> =>
  waitFor(async () => (await Promise.all(addresses.map(statsOf))).every((s) => s['cluster.members'] === count), timeoutMs, 200);

/** Sends `op` until it succeeds (a node may refuse while its view settles); throws the last error after `attempts`. */
export const retrying = async <T>(op: () => Promise<T>, attempts = 30, pauseMs = 100): Promise<T> => {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await op();
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }
  throw last;
};

/**
 * The ring a node routes by now, from its RING reply (issue 6: the ring is
 * claimed from the previous one, so tests ask a node instead of computing it).
 */
export const ringAt = async (address: string): Promise<Ring> => {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  const conn = await RawConn.open(port);
  try {
    await conn.hello();
    conn.send({ op: 'RING', streamId: 3, body: new Uint8Array(0) });
    const m = await conn.next();
    if (m.op !== 'RING_REPLY') throw new Error(`RING answered ${m.op}`);
    const body = decodeRingBody(m.body);
    if (E.isLeft(body)) throw body.left;
    return makeRing(ringOwnerIds(body.right));
  } finally {
    conn.close();
  }
};
