/**
 * The single-node request path in one process, no sockets: StandaloneService
 * over a Replica (memory or log backend), GET and PUT (PUT carries the key's
 * last context, an overwrite), 50 requests in flight per wave as the server
 * sees them; "PUT (write)" is PUT through service.write, the call the server
 * makes (synchronous on memory). Prints CPU µs per op (process.cpuUsage, the
 * figure that survives a shared machine) and ops/s. Compare runs of one build against another on
 * the same machine minutes apart, or better, interleave them.
 *
 *   node --import tsx bench/server_path.ts [--backend memory|log] [--ops 200000] [--keys 5000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryBackend } from '../src/storage/memory.js';
import { Replica } from '../src/node/replica.js';
import { StandaloneService } from '../src/node/service.js';
import type { StorageBackend } from '../src/storage/backend.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? (process.argv[i + 1] as string) : fallback;
};

const backendName = arg('backend', 'memory');
const totalOps = Number(arg('ops', '200000'));
const keyCount = Number(arg('keys', '5000'));
const wave = 50;

const open = async (): Promise<{ backend: StorageBackend; cleanup: () => void }> => {
  if (backendName === 'memory') return { backend: await createMemoryBackend(), cleanup: () => undefined };
  const dir = mkdtempSync(join(tmpdir(), 'rk-path-'));
  const { createLogBackend } = (await import('../src/storage/log.js')) as { createLogBackend: (o: { dir: string; durability: 'none' }) => Promise<StorageBackend> };
  return { backend: await createLogBackend({ dir, durability: 'none' }), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
};

const main = async (): Promise<void> => {
  const { backend, cleanup } = await open();
  const replica = new Replica({ backend, replicaId: 'node-a', partitionBits: 6 });
  await replica.openAll(Array.from({ length: 64 }, (_, i) => i));
  const service = new StandaloneService(replica);
  const keys = Array.from({ length: keyCount }, (_, i) => Buffer.from(`key:${String(i).padStart(16, '0')}`));
  const value = Buffer.alloc(100, 0x61);
  const contexts: Uint8Array[] = [];
  for (const k of keys) contexts.push((await service.put(k, value, new Uint8Array(0), 0, 0)).context);

  const runGet = async (): Promise<void> => {
    for (let done = 0; done < totalOps; done += wave) {
      const ps: Promise<unknown>[] = [];
      for (let j = 0; j < wave; j++) {
        const r = service.get(keys[(done + j) % keyCount] as Buffer, 0, 0);
        if (r instanceof Promise) ps.push(r);
      }
      if (ps.length > 0) await Promise.all(ps);
      else await undefined;
    }
  };
  const runPut = async (): Promise<void> => {
    for (let done = 0; done < totalOps; done += wave) {
      const ps: Promise<void>[] = [];
      for (let j = 0; j < wave; j++) {
        const i = (done + j) % keyCount;
        ps.push(service.put(keys[i] as Buffer, value, contexts[i] as Uint8Array, 0, 0).then((r) => void (contexts[i] = r.context)));
      }
      await Promise.all(ps);
    }
  };
  // PUT as the server runs it: service.write, a plain value when the store
  // wrote synchronously (memory), a promise otherwise.
  const runWrite = async (): Promise<void> => {
    for (let done = 0; done < totalOps; done += wave) {
      const ps: Promise<void>[] = [];
      for (let j = 0; j < wave; j++) {
        const i = (done + j) % keyCount;
        const r = service.write(keys[i] as Buffer, value, contexts[i] as Uint8Array, 0, 0);
        if (r instanceof Promise) ps.push(r.then((w) => void (contexts[i] = w.context)));
        else contexts[i] = r.context;
      }
      if (ps.length > 0) await Promise.all(ps);
      else await undefined;
    }
  };
  const measure = async (name: string, run: () => Promise<void>): Promise<void> => {
    await run(); // warm-up
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await run();
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const cpu = process.cpuUsage(cpu0);
    const cpuUs = cpu.user + cpu.system;
    console.log(`${backendName} ${name}: ${(cpuUs / totalOps).toFixed(2)} µs CPU/op, ${Math.round(totalOps / (wallMs / 1000)).toLocaleString('en')} ops/s`);
  };
  await measure('GET', runGet);
  await measure('PUT', runPut);
  await measure('PUT (write)', runWrite);
  await replica.close();
  cleanup();
};

await main();
