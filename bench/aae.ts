/**
 * npm run bench:aae [-- --keys 1000000] [--diffs 0,10,1000,100000] [--leaf-bits 16] [--quick]
 *
 * Anti-entropy between two replicas of ONE partition, in this process: two
 * Replicas on memory backends, each with its AntiEntropy, talking through a
 * transport that encodes every request and reply with the real peer codec
 * (protocol/peer.ts) and counts the frame bytes both ways.
 *
 * 1. Exchange cost: the replicas start equal (`--keys` keys, 16-byte keys,
 *    a 20-byte value, one version each); then for each `--diffs` d, d keys
 *    get a newer version on one side only, and one exchange repairs them.
 *    Prints bytes exchanged (both directions) and time, against the bytes of
 *    the partition's keys (target at d = 10: ≤ 1% and ≤ 1 s).
 * 2. Foreground throughput: reads + writes on replica A for a fixed window
 *    without an exchange, then the same window while a full exchange
 *    (`--fg-diffs` differences, default rate limit) runs: the ratio, same run
 *    (target ≥ 0.8).
 *
 * Writes bench/results/aae.json and bench/results/aae.md.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as D from '../src/core/dvvset.js';
import { encodeObject } from '../src/core/context_codec.js';
import { AntiEntropy, defaultAaeConfig, type AaeConfig } from '../src/cluster/anti_entropy.js';
import type { Clock } from '../src/cluster/effects.js';
import { realClock } from '../src/cluster/real_clock.js';
import { Replica, tagValue } from '../src/node/replica.js';
import { NodeStats } from '../src/node/stats.js';
import { createMemoryBackend } from '../src/storage/memory.js';
import { partitionOf } from '../src/native/addon.js';
import { decodeFrame } from '../protocol/frame.js';
import { decodeMessage, type ErrorMessage, type NodeMessage } from '../protocol/messages.js';
import { decodePeerReply, decodePeerRequest, encodePeer } from '../protocol/peer.js';
import type { PeerReply, PeerRequest } from '../protocol/peer_messages.js';
import { flag, intList } from './lib/args.js';
import { environment, markdownTable, textTable, writeResults, type Row } from './lib/report.js';

const quick = flag('quick') !== undefined;
const keyCount = intList('keys', [quick ? 100_000 : 1_000_000])[0]!;
const diffList = intList('diffs', [10, 1000, 100_000]).filter((d) => d <= keyCount);
const diffs = [0, ...diffList];
const leafBits = intList('leaf-bits', [16])[0]!;
const fgDiffs = intList('fg-diffs', [Math.min(100_000, keyCount)])[0]!;
const fgWindowMs = intList('fg-window-ms', [5000])[0]!;
const PARTITION_BITS = 4;
const PARTITION = 0;

const log = (s: string): void => console.log(s);

/** Keys of partition 0 only: `k` + a counter, 16 bytes, kept if they hash there. */
const makeKeys = (n: number): Buffer[] => {
  const out: Buffer[] = [];
  for (let i = 0; out.length < n; i++) {
    const k = Buffer.from(`k${i.toString().padStart(15, '0')}`);
    if (partitionOf(k, PARTITION_BITS) === PARTITION) out.push(k);
  }
  return out;
};

interface Side {
  readonly replica: Replica;
  readonly aae: AntiEntropy;
  readonly stats: NodeStats;
}

const wire = { bytes: 0, frames: 0 };
/** While set, peer requests wait (the exchange is parked as if its peer were slow): the foreground runs alone. */
let gate: Promise<void> | undefined;

/** A peer request through the codec both ways, as TCP would carry it (minus the socket). */
const viaCodec = async (to: Side, request: PeerRequest): Promise<PeerReply> => {
  while (gate !== undefined) await gate;
  const reqFrame = encodePeer(7, request);
  wire.bytes += reqFrame.length;
  wire.frames++;
  const reqMsg = decodeMessage(E.getOrElseW(() => { throw new Error('frame'); })(decodeFrame(reqFrame)));
  const req = E.getOrElseW((e: Error) => { throw e; })(E.chain((m) => decodePeerRequest(m as NodeMessage))(reqMsg));
  let reply: PeerReply;
  if (req.type === 'REPLICA_PUT_BATCH') {
    for (const it of req.items) {
      const { decodeObject } = await import('../src/core/context_codec.js');
      const d = decodeObject(it.object);
      if (!d.ok) throw new Error(d.reason);
      await to.replica.merge(Buffer.from(it.key), d.value);
    }
    reply = { type: 'ACK', count: req.items.length };
  } else {
    reply = await to.aae.handle(req);
  }
  const repFrame = encodePeer(7, reply, req.type);
  wire.bytes += repFrame.length;
  wire.frames++;
  const repMsg = decodeMessage(E.getOrElseW(() => { throw new Error('frame'); })(decodeFrame(repFrame)));
  return E.getOrElseW((e: Error) => { throw e; })(E.chain((m) => decodePeerReply(m as NodeMessage | ErrorMessage, request.type))(repMsg));
};

let stopFg = false;

const makeSide = async (id: string, peer: () => Side, config: AaeConfig, clock: Clock): Promise<Side> => {
  const backend = await createMemoryBackend();
  const replica = new Replica({ backend, replicaId: `${id}/1`, partitionBits: PARTITION_BITS });
  const stats = new NodeStats(Date.now());
  const aae = new AntiEntropy({
    self: id,
    replica,
    config,
    clock,
    stats,
    peerTimeoutMs: 600_000,
    request: (_to, req) => viaCodec(peer(), req),
    primariesOf: () => ['a', 'b'],
    members: () => ['a', 'b'],
    isUp: () => true,
    hintPending: () => false,
    stopped: () => stopFg,
    log: () => undefined,
  });
  return { replica, aae, stats };
};

const load = async (side: Side, keys: readonly Buffer[], objects: readonly Uint8Array[]): Promise<void> => {
  const store = await side.replica.store(PARTITION);
  for (let i = 0; i < keys.length; i += 10_000) {
    await store.batch(keys.slice(i, i + 10_000).map((key, j) => ({ type: 'put' as const, key, value: objects[i + j]! })));
  }
};

const main = async (): Promise<void> => {
  const t0 = Date.now();
  log(`bench:aae — one partition of ${keyCount} keys, Merkle ${2 ** leafBits} leaves (leafBits ${leafBits}, fan-out 32)`);
  const keys = makeKeys(keyCount);
  const keyBytes = keys.reduce((n, k) => n + k.length, 0);
  const objects = keys.map((k) => encodeObject(D.update(D.newValue(tagValue(Buffer.concat([k, Buffer.from('-v1-')]))), 'w/1', D.empty)));
  const config: AaeConfig = { ...defaultAaeConfig, enabled: false, reap: false, leafBits, fanoutBits: 5, keysPerSec: 1e9, batchKeys: 1024, maxSegmentItems: 200_000 };
  let a!: Side;
  let b!: Side;
  a = await makeSide('a', () => b, config, realClock);
  b = await makeSide('b', () => a, config, realClock);
  await load(a, keys, objects);
  await load(b, keys, objects);
  const built = Date.now();
  await a.aae.start();
  await b.aae.start();
  log(`setup: ${keyCount} keys loaded on both in ${built - t0} ms, trees built by fold in ${Date.now() - built} ms (both sides)`);

  const rows: Row[] = [];
  const results: Record<string, unknown>[] = [];
  let next = 0;
  for (const d of diffs) {
    // d keys get a newer version on b only.
    for (let i = 0; i < d; i++) {
      const k = keys[(next + i) % keys.length]!;
      await b.replica.coordinate(k, D.newWithContext(D.join(D.update(D.newValue(tagValue(Buffer.from('x'))), 'w/1', D.empty)), tagValue(Buffer.from('v2'))));
    }
    next += d;
    wire.bytes = 0;
    wire.frames = 0;
    const start = process.hrtime.bigint();
    const r = await a.aae.exchange(PARTITION, 'b');
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const pct = (100 * wire.bytes) / keyBytes;
    rows.push([d, r.differingSegments, r.keysDiffering, r.keysRepaired, wire.bytes, wire.frames, `${pct.toFixed(3)}%`, ms.toFixed(1)]);
    results.push({ diffs: d, differingSegments: r.differingSegments, keysDiffering: r.keysDiffering, keysRepaired: r.keysRepaired, wireBytes: wire.bytes, frames: wire.frames, pctOfKeyBytes: pct, ms });
    log(`  diffs ${d}: ${wire.bytes} bytes in ${wire.frames} frames (${pct.toFixed(3)}% of ${keyBytes} key bytes), ${ms.toFixed(1)} ms, ${r.keysRepaired} keys repaired`);
  }
  const header: Row = ['diffs', 'segments differing', 'keys differing', 'keys repaired', 'wire bytes', 'frames', '% of key bytes', 'ms'];
  log('');
  log(textTable(header, rows));

  // 2. Foreground throughput on a, without and during a full exchange at the default rate limit
  // (same replicas: b gets fgDiffs newer versions first).
  const fgKeysPerSec = intList('fg-keys-per-sec', [defaultAaeConfig.keysPerSec])[0]!;
  const fa = a;
  for (let i = 0; i < fgDiffs; i++) {
    const k = keys[(next + i) % keys.length]!;
    await b.replica.coordinate(k, D.newValue(tagValue(Buffer.from('fg-diff'))));
  }
  // The node defaults from here on (section 1 used large batches and no rate limit; the instances read their config live).
  const live = config as { -readonly [K in keyof AaeConfig]: AaeConfig[K] };
  live.batchKeys = defaultAaeConfig.batchKeys;
  live.maxSegmentItems = defaultAaeConfig.maxSegmentItems;
  a.aae.setKeysPerSec(fgKeysPerSec);
  b.aae.setKeysPerSec(fgKeysPerSec);
  const foreground = async (windowMs: number): Promise<number> => {
    const end = Date.now() + windowMs;
    let ops = 0;
    let i = 0;
    while (Date.now() < end) {
      // 64 ops, then one turn of the event loop (a server handles a batch of frames per tick).
      for (let j = 0; j < 64; j++) {
        const k = keys[(i++ * 7919) % keys.length]!;
        if ((j & 1) === 0) await fa.replica.read(k);
        else await fa.replica.coordinate(k, D.newValue(tagValue(Buffer.from('fg'))));
        ops++;
      }
      await new Promise((r) => setImmediate(r));
    }
    return (ops * 1000) / windowMs;
  };
  // Interleaved windows, so the machine's other load hits both sides alike: the exchange runs
  // through the whole section, parked (its peer requests held) during the "alone" windows.
  const rounds = intList('fg-rounds', [6])[0]!;
  const roundMs = Math.max(250, Math.floor(fgWindowMs / 2));
  let open: () => void = () => undefined;
  const park = (): void => {
    gate = new Promise<void>((r) => (open = r));
  };
  const unpark = (): void => {
    gate = undefined;
    open();
  };
  park();
  const exchange = fa.aae.exchange(PARTITION, 'b');
  let exchangeDone = false;
  void exchange.then(() => (exchangeDone = true));
  const alones: number[] = [];
  const durings: number[] = [];
  for (let i = 0; i < rounds && !exchangeDone; i++) {
    park();
    alones.push(await foreground(roundMs));
    unpark();
    durings.push(await foreground(roundMs));
  }
  // The same exchange with no foreground at all: the CPU it takes per wall second (both sides, this process).
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, roundMs * 2));
  const cpu1 = process.cpuUsage(cpu0);
  const exchangeCpuShare = (cpu1.user + cpu1.system) / 1000 / (Number(process.hrtime.bigint() - wall0) / 1e6);
  const stillRunning = !exchangeDone;
  stopFg = true;
  const partial = await exchange;
  stopFg = false;
  const ratios = alones.map((x, i) => durings[i]! / x).sort((x, y) => x - y);
  const ratio = ratios[Math.floor(ratios.length / 2)]!;
  const alone = alones.reduce((x, y) => x + y, 0) / alones.length;
  const during = durings.reduce((x, y) => x + y, 0) / durings.length;
  log('');
  log(
    `foreground (reads + writes on a): ${rounds} rounds of ${roundMs} ms alone then ${roundMs} ms during a full exchange of ${fgDiffs} differing keys at ${fgKeysPerSec} keys/s ` +
      `(${stillRunning ? 'still running at the end' : 'finished'}; both sides' work runs in this one process): mean ${alone.toFixed(0)} vs ${during.toFixed(0)} ops/s, ` +
      `per-round ratios ${ratios.map((x) => x.toFixed(2)).join(' ')}, median ${ratio.toFixed(3)} (target >= 0.8)`,
  );
  log(`  that exchange, stopped after the rounds: ${partial.keysRepaired} keys repaired, ${partial.keysDiffering} differing keys seen (the foreground's own writes add some)`);
  log(
    `  CPU the exchange takes alone: ${(100 * exchangeCpuShare).toFixed(1)}% of one core for both sides (${(50 * exchangeCpuShare).toFixed(1)}% per node): ` +
      `foreground capacity left on a saturated node ${(1 - exchangeCpuShare / 2).toFixed(3)}`,
  );

  const md = [
    `# bench:aae`,
    '',
    `One partition of ${keyCount} keys (${keyBytes} key bytes), Merkle leafBits ${leafBits}, fan-out 32; in-process, frames through the peer codec.`,
    '',
    markdownTable(header, rows),
    '',
    `Exchange CPU alone: ${(100 * exchangeCpuShare).toFixed(1)}% of a core for both sides (${(50 * exchangeCpuShare).toFixed(1)}% per node, so ${(1 - exchangeCpuShare / 2).toFixed(3)} of a saturated node is left for the foreground).`,
    '',
    `Foreground reads+writes, ${rounds} interleaved rounds: ${alone.toFixed(0)} ops/s alone, ${during.toFixed(0)} ops/s during a full exchange (${fgDiffs} diffs, ${fgKeysPerSec} keys/s, both sides in one process): median per-round ratio ${ratio.toFixed(3)}.`,
    '',
  ].join('\n');
  const files = writeResults('aae', { environment: environment(), keyCount, keyBytes, leafBits, exchanges: results, foreground: { aloneOpsPerSec: alone, duringOpsPerSec: during, ratios, ratio, exchangeCpuShareBothSides: exchangeCpuShare, fgDiffs, keysPerSec: fgKeysPerSec } }, md);
  log(`wrote ${files.join(', ')}`);
};

// The cluster Clock's timers are unref'd (a node's socket keeps it alive); here nothing else would.
const keepAlive = setInterval(() => undefined, 1000);
await main();
clearInterval(keepAlive);
