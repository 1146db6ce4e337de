/**
 * Child processes for benchmarks: ringkv nodes and redis-server, each started
 * on a free loopback port, waited for, and killed by PID at the end. Every
 * child is registered so that an error, Ctrl-C or a normal exit of the bench
 * never leaves a server running on the shared machine.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient, type ClientTlsOptions } from '../../src/client/index.js';

/** The repository root (bench/lib/ is two levels down). */
export { repoRoot } from './root.js';
import { isCompiledRun } from './compiled.js';
import { repoRoot } from './root.js';

const children = new Set<ChildProcess>();

const killAll = (): void => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  children.clear();
};

let hooked = false;
const hookExit = (): void => {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(130);
    });
  }
};

/** Registers a child so it is killed if the bench dies first. */
export const track = (c: ChildProcess): ChildProcess => {
  hookExit();
  children.add(c);
  c.once('exit', () => children.delete(c));
  return c;
};

/** The path of an executable on PATH, or undefined. Benches never install anything. */
export const which = (bin: string): string | undefined => {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const p = join(dir, bin);
    if (existsSync(p)) return p;
  }
  return undefined;
};

/** A loopback port nobody listens on right now (the OS picks it). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });

/** Whether something accepts a connection on the loopback port now. */
export const canConnect = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

/** Resolves once something accepts connections on the port; throws after `timeoutMs` or when `child` exits first. */
export const waitForPort = async (port: number, timeoutMs: number, child?: ChildProcess, what = `port ${port}`): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child !== undefined && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`${what} exited (code ${child.exitCode}, signal ${child.signalCode}) before listening`);
    }
    if (await canConnect(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not listen within ${timeoutMs} ms`);
};

/** Sends SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export const stopProcess = async (c: ChildProcess, graceMs = 3000): Promise<void> => {
  if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return;
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  children.delete(c);
};

/** User + system CPU time of a process in ms, from /proc (Linux); undefined elsewhere. */
export const cpuTimeMs = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
};

export interface Spawned {
  readonly port: number;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Last lines the process wrote (for error messages). */
  output(): string;
  stop(): Promise<void>;
}

const capture = (c: ChildProcess): (() => string) => {
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-4000);
  };
  c.stdout?.on('data', keep);
  c.stderr?.on('data', keep);
  return () => out;
};

/**
 * A node listens before its storage is open and answers KV_UNAVAILABLE
 * ("node is starting") until then; STATS succeeds once it serves requests.
 */
export const waitForRingkvReady = async (
  port: number,
  timeoutMs: number,
  login: { readonly user?: string; readonly password?: string } = {},
  tls?: ClientTlsOptions,
): Promise<void> => {
  const client = createClient({ nodes: [`127.0.0.1:${port}`], timeoutMs: 2000, retries: 0, ...login, ...(tls !== undefined ? { tls } : {}) });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        await client.stats();
        return;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`ringkv node on port ${port} not ready within ${timeoutMs} ms: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } finally {
    await client.close();
  }
};

export interface RingkvNodeOptions {
  readonly backend: string;
  readonly durability?: 'none' | 'interval' | 'always';
  /** Extra flags for `ringkv start` (e.g. `--join` once clustering exists). */
  readonly extraArgs?: readonly string[];
  /** Extra node flags (e.g. `--cpu-prof`) placed before the script. */
  readonly nodeArgs?: readonly string[];
  readonly startTimeoutMs?: number;
  readonly port?: number;
  /**
   * The CLI to run: default src/cli/main.ts under tsx. A compiled main.js
   * runs without tsx, so a `--cpu-prof` profile names real functions and
   * lines (tsx's transformed code sits on one line).
   */
  readonly entry?: string;
  /** Runs on the fresh data directory before the node starts (e.g. adds a user for `--auth`). */
  readonly setup?: (dataDir: string) => void;
  /** Credentials for the readiness check of a node started with `--auth`. */
  readonly login?: { readonly user: string; readonly password: string };
  /** TLS options for the readiness check of a node started with `--tls-cert` (issue #9). */
  readonly clientTls?: ClientTlsOptions;
}

/** Starts `ringkv start` in its own process on a free port with a fresh data dir (removed on stop). */
export const spawnRingkvNode = async (o: RingkvNodeOptions): Promise<Spawned> => {
  const port = o.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-bench-'));
  o.setup?.(dir);
  const args = [
    ...(o.nodeArgs ?? []),
    // A compiled bench (--compiled) runs compiled nodes too, unless told otherwise.
    ...(o.entry !== undefined ? [o.entry] : isCompiledRun() ? [join(repoRoot, 'dist/src/cli/main.js')] : ['--import', 'tsx', join(repoRoot, 'src/cli/main.ts')]),
    'start',
    '--port',
    String(port),
    '--data',
    dir,
    '--backend',
    o.backend,
    ...(o.durability !== undefined ? ['--durability', o.durability] : []),
    '--quiet',
    ...(o.extraArgs ?? []),
  ];
  const child = track(spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] }));
  const what = `ringkv node (${o.backend}${o.durability ? `/${o.durability}` : ''})`;
  return whenReady(child, port, dir, async () => {
    await waitForPort(port, o.startTimeoutMs ?? 30_000, child, what);
    await waitForRingkvReady(port, o.startTimeoutMs ?? 30_000, o.login, o.clientTls);
  });
};

/**
 * Waits for a spawned server with `ready`; on failure stops it, removes its
 * directory and throws with its output. Stopping later does the same cleanup.
 */
const whenReady = async (child: ChildProcess, port: number, dir: string, ready: () => Promise<void>): Promise<Spawned> => {
  const output = capture(child);
  const cleanup = async (graceMs?: number) => {
    await stopProcess(child, graceMs);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await ready();
  } catch (e) {
    await cleanup(500);
    throw new Error(`${(e as Error).message}\n${output()}`);
  }
  return { port, pid: child.pid!, child, output, stop: () => cleanup() };
};

/** Starts redis-server without persistence on a free port, or returns undefined when the binary is absent. */
export const spawnRedis = async (startTimeoutMs = 10_000): Promise<Spawned | undefined> => {
  const bin = which('redis-server');
  if (bin === undefined) return undefined;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-bench-redis-'));
  const child = track(
    spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  return whenReady(child, port, dir, () => waitForPort(port, startTimeoutMs, child, 'redis-server'));
};

/** Runs a command to completion with a time bound; returns its stdout (throws on failure or timeout). */
export const runBounded = (bin: string, args: readonly string[], timeoutMs: number): string => {
  const r = spawnSync(bin, [...args], { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 });
  if (r.error) throw new Error(`${bin} failed: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${bin} exited with ${r.status ?? r.signal}: ${r.stderr}`);
  return r.stdout;
};

export interface SpawnedCluster {
  /** Client URLs (`http://127.0.0.1:<port>`), one per member. */
  readonly clientUrls: readonly string[];
  readonly pids: readonly number[];
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts a local etcd cluster of `members` processes from the `etcd` binary
 * on PATH (never installed here): loopback client and peer ports, a fresh
 * temp data dir each, default fsync behaviour (etcd's only durable mode).
 * Resolves once every member accepts client connections; the caller waits
 * for a leader (a first successful write). Returns undefined when the binary
 * is absent.
 */
export const spawnEtcdCluster = async (members = 3, startTimeoutMs = 30_000): Promise<SpawnedCluster | undefined> => {
  const bin = which('etcd');
  if (bin === undefined) return undefined;
  const ports: { client: number; peer: number }[] = [];
  // Ports are taken one by one from the OS; holding none of them open leaves a small race, as for the other servers.
  for (let i = 0; i < members; i++) ports.push({ client: await freePort(), peer: await freePort() });
  const names = ports.map((_, i) => `e${i + 1}`);
  const initialCluster = ports.map((p, i) => `${names[i]}=http://127.0.0.1:${p.peer}`).join(',');
  const dirs: string[] = [];
  const started: ChildProcess[] = [];
  const outputs: (() => string)[] = [];
  const stop = async (graceMs?: number): Promise<void> => {
    await Promise.all(started.map((c) => stopProcess(c, graceMs)));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < members; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'ringkv-bench-etcd-'));
      dirs.push(dir);
      const p = ports[i]!;
      const child = track(
        spawn(
          bin,
          [
            '--name', names[i]!,
            '--data-dir', dir,
            '--listen-client-urls', `http://127.0.0.1:${p.client}`,
            '--advertise-client-urls', `http://127.0.0.1:${p.client}`,
            '--listen-peer-urls', `http://127.0.0.1:${p.peer}`,
            '--initial-advertise-peer-urls', `http://127.0.0.1:${p.peer}`,
            '--initial-cluster', initialCluster,
            '--initial-cluster-state', 'new',
            '--initial-cluster-token', `ringkv-bench-${process.pid}`,
            '--log-level', 'error',
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        ),
      );
      started.push(child);
      outputs.push(capture(child));
    }
    await Promise.all(started.map((c, i) => waitForPort(ports[i]!.client, startTimeoutMs, c, `etcd member ${names[i]}`)));
  } catch (e) {
    await stop(500);
    throw new Error(`${(e as Error).message}\n${outputs.map((o) => o()).join('\n')}`);
  }
  return {
    clientUrls: ports.map((p) => `http://127.0.0.1:${p.client}`),
    pids: started.map((c) => c.pid!),
    output: () => outputs.map((o) => o()).join('\n'),
    stop: () => stop(),
  };
};

/**
 * A bench's entry point: runs `main` and exits with its code (0 when it gives
 * none); a bench that hangs on the shared machine is worse than one that
 * fails, so after `limitMs` the process gives up with exit code 1. A thrown
 * error goes to `onError`, which says what the exit code is (default: the
 * whole error printed, 1).
 */
export const mainWithDeadline = (
  name: string,
  limitMs: number,
  main: () => Promise<number | void>,
  onError: (e: unknown) => number = (e) => {
    console.error(e);
    return 1;
  },
): void => {
  const guard = setTimeout(() => {
    console.error(`${name}: gave up after ${limitMs / 60_000} minutes`);
    process.exit(1);
  }, limitMs);
  guard.unref();
  main().then(
    (code) => process.exit(code ?? 0),
    (e: unknown) => process.exit(onError(e)),
  );
};
