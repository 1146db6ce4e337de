/**
 * Elastic membership (issue 6), measured with real node processes on loopback:
 *
 * 1. Transfer rate: one node holding `--keys` keys of `--value-bytes`, N=1;
 *    a second node joins and pulls its share. Reported: keys and MB the
 *    joiner received by transfer, the time from its first received key to the
 *    ring settling (polled every 20 ms over one kept connection per node), and the rates (keys/s, MB/s); the
 *    commit and its gossip are inside that time.
 * 2. Foreground throughput during a join: three nodes (N=3, R=W=2) loaded
 *    with the same data; `--clients` closed-loop clients (50% get, 50% put of
 *    the key just read, with its context)
 *    run `--seconds` without any change (baseline), then while a fourth node
 *    joins (from its first transferred key until the ring settles, polled
 *    every 100 ms; its process start-up is left out). Reported: ops/s of both windows and
 *    their ratio (target ≥ 0.70), measured in the same run.
 *
 *   npm run bench:membership [-- --keys 20000 --value-bytes 1024 --clients 16 --seconds 8 --transfer-rate-bytes N]
 *
 * Writes bench/results/cluster_membership.{json,md}.
 */
import { createClient, type Client } from '../src/client/index.js';
import { flag } from './lib/args.js';
import { spawnRingkvNode, type Spawned } from './lib/procs.js';
import { environment, markdownTable, textTable, writeResults } from './lib/report.js';

const num = (name: string, fallback: number): number => {
  const v = flag(name);
  if (v === undefined || v === true) return fallback;
  const n = Number(String(v).replace(/_/g, ''));
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} wants a positive number`);
  return n;
};

const keys = num('keys', 20_000);
const valueBytes = num('value-bytes', 1024);
const clients = num('clients', 16);
const seconds = num('seconds', 8);
// Default gossip and peer timeouts: a short gossip interval makes phi suspect busy peers on a loaded box.
const rateFlag = flag('transfer-rate-bytes');
// The nodes' default transfer rate limit unless the run names one (0 = unlimited).
const fast = ['--aae-enabled', 'false', ...(typeof rateFlag === 'string' ? ['--transfer-rate-bytes', rateFlag] : [])];

// One kept connection per node for polling: a connection (and handshake) per poll would load the
// nodes during the join window only and skew the ratio.
const pollers = new Map<number, Client>();
const statsAt = async (port: number): Promise<Record<string, number>> => {
  let c = pollers.get(port);
  if (c === undefined) {
    c = createClient({ nodes: [`127.0.0.1:${port}`], timeoutMs: 3000, retries: 0, routing: 'any' });
    pollers.set(port, c);
  }
  return c.stats();
};

/** Polls until every node counts `members` and no ring change is pending; returns when that happened. */
const waitSettled = async (ports: readonly number[], members: number, timeoutMs = 300_000): Promise<number> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const all = await Promise.all(ports.map(statsAt));
      if (all.every((s) => s['cluster.members'] === members && s['cluster.ring_pending'] === 0)) return Date.now();
    } catch {
      // a node still starting
    }
    if (Date.now() > deadline) throw new Error(`ring did not settle on ${members} members in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

const load = async (client: Client, count: number): Promise<void> => {
  const value = Buffer.alloc(valueBytes, 0x61);
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < count) {
        const i = next++;
        await client.put(`key${i}`, value);
      }
    }),
  );
};

let live = 0;
/** Operations completed so far by every `drive` (read while one runs). */
const liveOps = (): number => live;

/**
 * Closed-loop clients until `until()` is true; returns completed ops. Each client alternates a
 * get of a key and a put to that key with the get's context (read-modify-write): blind puts
 * would add a sibling each, objects would grow through the run, and the later join window
 * would move and serve bigger objects than the baseline window did.
 */
const drive = async (client: Client, until: () => boolean): Promise<{ ops: number; errors: number }> => {
  const value = Buffer.alloc(valueBytes, 0x62);
  let ops = 0;
  let errors = 0;
  let n = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      let read: { readonly key: string; readonly context: Uint8Array } | undefined;
      while (!until()) {
        try {
          if (read === undefined) {
            const key = `key${(n++ * 7919) % keys}`;
            read = { key, context: (await client.getRaw(key)).context };
          } else {
            const { key, context } = read;
            read = undefined;
            await client.put(key, value, { context });
          }
          ops++;
          live++;
        } catch {
          read = undefined;
          errors++;
        }
      }
    }),
  );
  return { ops, errors };
};

const started: Spawned[] = [];
const spawn = async (extra: readonly string[]): Promise<Spawned> => {
  const s = await spawnRingkvNode({ backend: 'log', durability: 'none', extraArgs: [...fast, ...extra] });
  started.push(s);
  return s;
};

try {
  // ---------------------------------------------------------------- 1. transfer rate
  const a = await spawn(['--node-id', 'a', '--cluster', '--n', '1', '--r', '1', '--w', '1']);
  const ca = createClient({ nodes: [`127.0.0.1:${a.port}`], timeoutMs: 10_000, retries: 2 });
  await load(ca, keys);
  await ca.close();
  // The clock starts when the joiner's first transferred key shows (process start-up is not transfer time).
  const bPort = await (await import('./lib/procs.js')).freePort();
  const bReady = spawnRingkvNode({ backend: 'log', durability: 'none', port: bPort, extraArgs: [...fast, '--node-id', 'b', '--join', `127.0.0.1:${a.port}`, '--n', '1', '--r', '1', '--w', '1'] });
  let t0 = 0;
  let t1 = 0;
  let sb: Record<string, number> = {};
  for (const deadline = Date.now() + 300_000; Date.now() < deadline; ) {
    try {
      const [sa, s] = await Promise.all([statsAt(a.port), statsAt(bPort)]);
      if (t0 === 0 && (s['counters.transferKeys'] ?? 0) > 0) t0 = Date.now();
      if (s['cluster.members'] === 2 && sa['cluster.members'] === 2 && s['cluster.ring_pending'] === 0 && sa['cluster.ring_pending'] === 0) {
        t1 = Date.now();
        sb = s;
        break;
      }
    } catch {
      // still starting
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  started.push(await bReady);
  if (t1 === 0) throw new Error('the join did not settle');
  if (t0 === 0) t0 = t1;
  const movedKeys = sb['counters.transferKeys'] ?? 0;
  const movedBytes = sb['counters.transferBytes'] ?? 0;
  const transferSec = Math.max(0.001, (t1 - t0) / 1000);
  for (const s of started.splice(0)) await s.stop();

  // ---------------------------------------------------------------- 2. foreground during a join
  const n1 = await spawn(['--node-id', 'n1', '--cluster']);
  const n2 = await spawn(['--node-id', 'n2', '--join', `127.0.0.1:${n1.port}`]);
  const n3 = await spawn(['--node-id', 'n3', '--join', `127.0.0.1:${n1.port}`]);
  const ports = [n1.port, n2.port, n3.port];
  await waitSettled(ports, 3);
  const fg = createClient({ nodes: ports.map((p) => `127.0.0.1:${p}`), timeoutMs: 10_000, retries: 2 });
  await load(fg, keys);
  await drive(fg, (() => { const end = Date.now() + 1000; return () => Date.now() > end; })()); // warm-up
  const b0 = Date.now();
  const base = await drive(fg, () => Date.now() - b0 > seconds * 1000);
  const baseSec = (Date.now() - b0) / 1000;

  // The join window runs from the joiner's first transferred key to the ring settling: the
  // joiner's process start-up (tsx compiling on a 2-core box) is not the join.
  let joined = false;
  let opsSeen = 0;
  const counting = drive(fg, () => joined);
  const n4Port = await (await import('./lib/procs.js')).freePort();
  const n4Ready = spawnRingkvNode({ backend: 'log', durability: 'none', port: n4Port, extraArgs: [...fast, '--node-id', 'n4', '--join', `127.0.0.1:${n1.port}`] });
  let j0 = 0;
  let ops0 = 0;
  let j1 = 0;
  for (const deadline = Date.now() + 300_000; Date.now() < deadline && j1 === 0; ) {
    try {
      const all = await Promise.all([...ports, n4Port].map(statsAt));
      opsSeen = liveOps();
      if (j0 === 0 && (all[3]!['counters.transferKeys'] ?? 0) > 0) {
        j0 = Date.now();
        ops0 = opsSeen;
      }
      if (all.every((x) => x['cluster.members'] === 4 && x['cluster.ring_pending'] === 0)) j1 = Date.now();
      if (flag('debug') === true) console.log(`t=${Date.now()} ops=${opsSeen} n4keys=${all[3]?.['counters.transferKeys'] ?? '-'} pending=${all.map((x) => x['cluster.ring_pending'] ?? '-').join('')}`);
    } catch {
      // n4 still starting
    }
    if (j1 === 0) await new Promise((r) => setTimeout(r, 100));
  }
  const ops1 = liveOps();
  joined = true;
  const dj = await counting;
  started.push(await n4Ready);
  if (j1 === 0) throw new Error('the join did not settle');
  if (j0 === 0) j0 = j1;
  const joinSec = Math.max(0.001, (j1 - j0) / 1000);
  const joinOps = ops1 - ops0;
  const s4 = await statsAt(n4Port);
  if (flag('debug') === true) {
    for (const port of [...ports, n4Port]) {
      const st = await statsAt(port);
      console.log(port, Object.fromEntries(Object.entries(st).filter(([k]) => /forward|Failure|hint|transfer|timeout|Timeout|error|Error/.test(k) && !k.startsWith('cluster.member'))));
    }
  }
  await fg.close();

  const baseRate = base.ops / baseSec;
  const joinRate = joinOps / joinSec;
  const ratio = joinRate / baseRate;
  const result = {
    keys,
    valueBytes,
    clients,
    transfer: {
      keys: movedKeys,
      bytes: movedBytes,
      seconds: transferSec,
      keysPerSec: movedKeys / transferSec,
      mbPerSec: movedBytes / 1e6 / transferSec,
    },
    foreground: {
      baselineOpsPerSec: baseRate,
      baselineErrors: base.errors,
      duringJoinOpsPerSec: joinRate,
      duringJoinErrors: dj.errors,
      duringJoinOps: joinOps,
      joinSeconds: joinSec,
      joinTransferKeys: s4['counters.transferKeys'] ?? 0,
      ratio,
      target: 0.7,
    },
    environment: environment(),
  };
  const rows = [
    ['transfer: keys moved to the joiner (N=1, 2 nodes)', movedKeys],
    ['transfer: MB moved', (movedBytes / 1e6).toFixed(2)],
    ['transfer: seconds from first key to ring settled', transferSec.toFixed(2)],
    ['transfer: keys/s', Math.round(movedKeys / transferSec)],
    ['transfer: MB/s', (movedBytes / 1e6 / transferSec).toFixed(2)],
    ['foreground ops/s, no change (3 nodes, N=3)', Math.round(baseRate)],
    ['foreground ops/s, during a join of a 4th node', Math.round(joinRate)],
    ['join window (s) / keys it transferred', `${joinSec.toFixed(2)} / ${s4['counters.transferKeys'] ?? 0}`],
    ['ratio during join / without (target ≥ 0.70)', ratio.toFixed(2)],
  ];
  console.log(textTable(['measure', 'value'], rows));
  writeResults('cluster_membership', result, `# cluster_membership\n\n${markdownTable(['measure', 'value'], rows)}\n`);
} finally {
  for (const c of pollers.values()) await c.close().catch(() => undefined);
  for (const s of started) await s.stop().catch(() => undefined);
}
