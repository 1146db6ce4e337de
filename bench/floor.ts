/**
 * The floor under bench:server: the smallest key-value server and client
 * plain Node allows, under bench:server's load. A server process that keeps
 * a Map from key (latin1 string) to value and answers GET and PUT frames,
 * with nothing else (no versions, contexts, validation, limits, stats or
 * errors), and a client that keeps a Map from request id to resolver: one
 * promise per request, 50 in flight, writes coalesced per 16 frames on both
 * sides as ringkv does. 20-byte keys over a preloaded key space, 100-byte
 * values. Prints ops/s, latency and CPU per request of both processes, and
 * the CPU ceiling (cores / total CPU per request): what ringkv's own figures
 * (bench:server) compare with, since no server written in Node on this
 * machine does a request for less than this one does.
 *
 *   npm run bench:floor [-- --rounds 3] [--duration-ms 3000] [--warmup-ms 1000] [--keys 100000]
 *
 * Frames: request  u32 length | u32 id | u8 op (1 GET, 2 PUT) | u16 key length | key | value (PUT)
 *         reply    u32 length | u32 id | u8 found | value (GET, when found)
 * (length counts the bytes after itself). Writes bench/results/floor.json.
 */
import { spawn } from 'node:child_process';
import { createConnection, createServer, type Socket } from 'node:net';
import { cpus } from 'node:os';
import { createInterface } from 'node:readline';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closedLoop, forEachConcurrent } from './lib/loadgen.js';
import { fmtRate, fmtUs, summarize } from './lib/latency.js';
import { cpuTimeMs, repoRoot, stopProcess, track } from './lib/procs.js';
import { nodeArgsFor, reexecCompiled } from './lib/compiled.js';
import { numFlag } from './lib/args.js';
import { median } from './lib/timing.js';
import { createRng } from './ycsb/random.js';

reexecCompiled(import.meta.url);

const GET = 1;
const PUT = 2;
/** Frames per write, as ringkv's PIPELINE_FRAMES. */
const BATCH = 16;

// ---- server (child process) ----

const serve = (): void => {
  const data = new Map<string, Buffer>();
  const server = createServer({ noDelay: true }, (socket: Socket) => {
    let pending: Buffer = Buffer.alloc(0);
    let out: Buffer[] = [];
    let frames = 0;
    const flush = (): void => {
      if (out.length === 0) return;
      socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
      out = [];
      frames = 0;
    };
    socket.on('data', (chunk: Buffer) => {
      const buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let at = 0;
      while (buf.length - at >= 4) {
        const len = buf.readUInt32LE(at);
        if (buf.length - at - 4 < len) break;
        const id = buf.readUInt32LE(at + 4);
        const op = buf[at + 8]!;
        const keyLen = buf.readUInt16LE(at + 9);
        const key = buf.toString('latin1', at + 11, at + 11 + keyLen);
        const end = at + 4 + len;
        if (op === PUT) {
          data.set(key, Buffer.from(buf.subarray(at + 11 + keyLen, end)));
          const r = Buffer.allocUnsafe(9);
          r.writeUInt32LE(5, 0);
          r.writeUInt32LE(id, 4);
          r[8] = 1;
          out.push(r);
        } else {
          const v = data.get(key);
          const r = Buffer.allocUnsafe(9 + (v?.length ?? 0));
          r.writeUInt32LE(5 + (v?.length ?? 0), 0);
          r.writeUInt32LE(id, 4);
          r[8] = v === undefined ? 0 : 1;
          if (v !== undefined) v.copy(r, 9);
          out.push(r);
        }
        at = end;
        if (++frames >= BATCH) flush();
      }
      pending = at === buf.length ? Buffer.alloc(0) : buf.subarray(at);
      flush();
    });
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    process.stdout.write(`PORT ${typeof a === 'object' && a !== null ? a.port : 0}\n`);
  });
};

// ---- client ----

class FloorClient {
  private readonly pending = new Map<number, (v: Buffer | undefined) => void>();
  private nextId = 1;
  private out: Buffer[] = [];
  private queued = false;
  private rest: Buffer = Buffer.alloc(0);

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  request(op: number, key: Buffer, value?: Buffer): Promise<Buffer | undefined> {
    const id = this.nextId++;
    const f = Buffer.allocUnsafe(11 + key.length + (value?.length ?? 0));
    f.writeUInt32LE(7 + key.length + (value?.length ?? 0), 0);
    f.writeUInt32LE(id, 4);
    f[8] = op;
    f.writeUInt16LE(key.length, 9);
    key.copy(f, 11);
    if (value !== undefined) value.copy(f, 11 + key.length);
    this.out.push(f);
    if (this.out.length >= BATCH) this.flush();
    else if (!this.queued) {
      this.queued = true;
      queueMicrotask(() => this.flush());
    }
    return new Promise((resolve) => this.pending.set(id, resolve));
  }

  private flush(): void {
    this.queued = false;
    if (this.out.length === 0) return;
    this.socket.write(this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out));
    this.out = [];
  }

  private onData(chunk: Buffer): void {
    const buf = this.rest.length === 0 ? chunk : Buffer.concat([this.rest, chunk]);
    let at = 0;
    while (buf.length - at >= 4) {
      const len = buf.readUInt32LE(at);
      if (buf.length - at - 4 < len) break;
      const id = buf.readUInt32LE(at + 4);
      const found = buf[at + 8] === 1;
      // A copy, as ringkv's SDK hands out: the caller must not pin the socket chunk.
      const value = found && len > 5 ? Buffer.from(buf.subarray(at + 9, at + 4 + len)) : undefined;
      const resolve = this.pending.get(id);
      this.pending.delete(id);
      resolve?.(value);
      at += 4 + len;
    }
    this.rest = at === buf.length ? Buffer.alloc(0) : buf.subarray(at);
  }
}

const main = async (): Promise<void> => {
  const rounds = numFlag('rounds', 3);
  const durationMs = numFlag('duration-ms', 3000);
  const warmupMs = numFlag('warmup-ms', 1000);
  const keys = numFlag('keys', 100_000);
  const inflight = 50;
  const child = track(spawn(process.execPath, [...nodeArgsFor(fileURLToPath(import.meta.url)), '--server'], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const port = await new Promise<number>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (l.startsWith('PORT ')) resolve(Number(l.slice(5)));
    });
  });
  const socket = createConnection({ host: '127.0.0.1', port, noDelay: true });
  await new Promise((r) => socket.once('connect', r));
  const client = new FloorClient(socket);
  const keyOf = (i: number): Buffer => Buffer.from(`k0:${String(i).padStart(17, '0')}`);
  const keyList = Array.from({ length: keys }, (_, i) => keyOf(i));
  const value = Buffer.alloc(100, 0x61);
  await forEachConcurrent(keys, inflight, (i) => client.request(PUT, keyList[i]!, value));
  const rngs = Array.from({ length: inflight }, (_, i) => createRng(1000 + i));
  const results: Record<string, { opsPerSec: number[]; serverUs: number[]; clientUs: number[]; p999Us: number[] }> = { GET: { opsPerSec: [], serverUs: [], clientUs: [], p999Us: [] }, PUT: { opsPerSec: [], serverUs: [], clientUs: [], p999Us: [] } };
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const [name, op] of [
        ['GET', (loop: number) => client.request(GET, keyList[rngs[loop]!.int(keys)]!)],
        ['PUT', (loop: number) => client.request(PUT, keyList[rngs[loop]!.int(keys)]!, value)],
      ] as const) {
        // CPU over the measured window only: sample after the warm-up and at the end.
        let s0 = 0;
        let c0 = 0;
        const sampleAt = setTimeout(() => {
          s0 = cpuTimeMs(child.pid!) ?? 0;
          const u = process.cpuUsage();
          c0 = (u.user + u.system) / 1000;
        }, warmupMs);
        const r = await closedLoop({ inflight, warmupMs, durationMs, op });
        clearTimeout(sampleAt);
        const s1 = cpuTimeMs(child.pid!) ?? 0;
        const u = process.cpuUsage();
        const c1 = (u.user + u.system) / 1000;
        const res = results[name]!;
        res.opsPerSec.push(Math.round(r.opsPerSec));
        res.serverUs.push(((s1 - s0) * 1000) / r.ops);
        res.clientUs.push(((c1 - c0) * 1000) / r.ops);
        res.p999Us.push(summarize(r.histogram).p999Us);
        console.log(`round ${round}/${rounds} ${name}: ${fmtRate(r.opsPerSec)}/s, server ${res.serverUs.at(-1)!.toFixed(1)} µs + client ${res.clientUs.at(-1)!.toFixed(1)} µs CPU per request`);
      }
    }
  } finally {
    socket.destroy();
    await stopProcess(child, 1000);
  }
  const summary = Object.fromEntries(
    Object.entries(results).map(([name, r]) => {
      const serverUs = median(r.serverUs);
      const clientUs = median(r.clientUs);
      return [name, { opsPerSec: median(r.opsPerSec), rounds: r.opsPerSec, serverUsPerOp: serverUs, clientUsPerOp: clientUs, ceilingPerSec: Math.round((cpus().length * 1e6) / (serverUs + clientUs)), p999Us: median(r.p999Us) }];
    }),
  );
  console.log('\n| op | ops/s (median) | rounds | server CPU/op | client CPU/op | CPU ceiling on ' + cpus().length + ' cores | p99.9 |');
  console.log('|---|---:|---|---:|---:|---:|---:|');
  for (const [name, s] of Object.entries(summary)) {
    console.log(`| ${name} | ${fmtRate(s.opsPerSec)} | ${s.rounds.map(fmtRate).join(', ')} | ${s.serverUsPerOp.toFixed(1)} µs | ${s.clientUsPerOp.toFixed(1)} µs | ${fmtRate(s.ceilingPerSec)}/s | ${fmtUs(s.p999Us)} |`);
  }
  const dir = join(repoRoot, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'floor.json'), JSON.stringify({ date: new Date().toISOString(), cpus: cpus().length, keys, inflight, durationMs, warmupMs, summary }, null, 2) + '\n');
  console.log('\nwrote bench/results/floor.json');
};

if (process.argv.includes('--server')) serve();
else
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
