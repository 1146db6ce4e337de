/**
 * Elastic membership with real node processes on loopback (issue 6 item 6):
 * the ring grows 3 → 5 and shrinks 5 → 3 (`ringkv leave`) while a writer
 * keeps overwriting keys at W=2; afterwards every acknowledged write is
 * readable as its key's latest value, the ring is balanced (partitions per
 * node differ by at most 1) and every partition has N distinct replicas.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ownershipCounts, preferenceList, type Ring } from '../../src/core/ring.js';
import { createClient } from '../../src/client/index.js';
import { adminAt } from '../../src/node/node.js';
import { ProcCluster, ringAt, statsOf, waitFor, waitMembers } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';

const N = 3;
const flags = ['--n', String(N), '--r', '2', '--w', '2', '--gossip-interval-ms', '200', '--handoff-interval-ms', '300', '--peer-timeout-ms', '800', '--aae-enabled', 'false'];
const cli = async (args: readonly string[]): Promise<{ code: number; out: string }> => {
  const r = await runCli(args);
  return { code: r.code, out: r.stdout + r.stderr };
};

/** Keeps overwriting keys (each write carries the context of that key's last acknowledged write). */
class Writer {
  readonly latest = new Map<string, string>();
  /** Values written after the latest acknowledged one whose outcome is unknown (they may have superseded it). */
  readonly unsure = new Map<string, string[]>();
  private readonly contexts = new Map<string, Uint8Array>();
  private running = true;
  acked = 0;
  failed = 0;
  readonly done: Promise<void>;

  constructor(nodes: readonly string[], keys: number) {
    const client = createClient({ nodes: [...nodes], timeoutMs: 3000, retries: 2 });
    this.done = (async () => {
      try {
        for (let n = 0; this.running; n++) {
          const key = `k${n % keys}`;
          const value = `${key}.v${n}`;
          const context = this.contexts.get(key);
          try {
            const r = await client.put(key, value, { w: 2, ...(context !== undefined ? { context } : {}) });
            this.latest.set(key, value);
            this.unsure.delete(key);
            this.contexts.set(key, r.context);
            this.acked++;
          } catch {
            this.failed++;
            this.unsure.set(key, [...(this.unsure.get(key) ?? []), value]);
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      } finally {
        await client.close();
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

const assertBalanced = (ring: Ring, members: readonly string[], what: string): void => {
  const counts = ownershipCounts(ring);
  assert.equal([...counts.keys()].sort(), [...members].sort(), `${what}: the ring is over ${members.join(',')}`);
  const c = [...counts.values()];
  assert.ok(Math.max(...c) - Math.min(...c) <= 1, `${what}: partitions per node differ by at most 1 (${[...counts].map(([k, v]) => `${k}=${v}`).join(' ')})`);
  for (let p = 0; p < ring.partitionCount; p++) assert.is(new Set(preferenceList(ring, p, N)).size, N, `${what}: partition ${p} on N distinct nodes`);
};

const settled = async (addresses: readonly string[], members: number): Promise<boolean> =>
  waitFor(
    async () => {
      const all = await Promise.all(addresses.map(statsOf));
      return all.every((s) => s['cluster.members'] === members && s['cluster.ring_pending'] === 0);
    },
    40_000,
    200,
  );

test('the ring grows 3 → 5 and shrinks 5 → 3 under continuous W=2 writes without losing an acknowledged write', async () => {
  const cluster = await ProcCluster.create({ nodes: 5, flags });
  const addr = cluster.addresses;
  const dump = () => cluster.nodes.map((n) => `--- ${n.id}\n${n.output.slice(-2500)}`).join('\n');
  let writer: Writer | undefined;
  try {
    for (let i = 0; i < 3; i++) cluster.start(i);
    assert.ok(await settled(addr.slice(0, 3), 3), `3 nodes did not form\n${dump()}`);
    writer = new Writer(addr.slice(0, 3), 150);
    await waitFor(() => writer!.acked >= 200, 20_000);
    // Two joins at once: each moves only what balance forces (one plan, or two in a row).
    cluster.start(3);
    cluster.start(4);
    assert.ok(await settled(addr, 5), `n4 and n5 did not join\n${dump()}`);
    assertBalanced(await ringAt(addr[0]!), ['n1', 'n2', 'n3', 'n4', 'n5'], 'after growing to 5');
    const grown = writer.acked;
    const moved = (await Promise.all(addr.slice(3).map(statsOf))).reduce((a, s) => a + (s['counters.transferKeys'] ?? 0), 0);
    assert.ok(moved > 0, 'the joining nodes received keys by transfer');

    // Leave (n5 by the ADMIN message, n4 through the CLI); each leaving process exits by itself once it handed everything off.
    for (const i of [4, 3]) {
      const exited = new Promise<void>((r) => cluster.nodes[i]!.child!.once('exit', () => r()));
      if (i === 3) {
        const res = await cli(['leave', '--nodes', addr[i]!]);
        assert.is(res.code, 0, res.out);
      } else {
        await adminAt(addr[i]!, 'leave', '', { timeoutMs: 3000 });
      }
      const gone = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 40_000).unref())]);
      assert.ok(gone, `${cluster.nodes[i]!.id} did not exit after leave\n${dump()}`);
      assert.ok(await settled(addr.slice(0, i), i), `the ring did not settle without ${cluster.nodes[i]!.id}\n${dump()}`);
    }
    await waitFor(() => writer!.acked >= grown + 100, 20_000);
    await writer.stop();
    assert.ok(writer.acked > 300, `writes went on (${writer.acked} acknowledged, ${writer.failed} failed)`);
    assertBalanced(await ringAt(addr[0]!), ['n1', 'n2', 'n3'], 'after shrinking to 3');

    // Let hinted handoff settle, then every acknowledged write must be its key's latest value.
    const hintsLeft = (s: Record<string, number>): number => Object.entries(s).reduce((a, [k, v]) => a + (k.startsWith('cluster.hints_pending.') ? v : 0), 0);
    await waitFor(async () => (await Promise.all(addr.slice(0, 3).map(statsOf))).every((s) => hintsLeft(s) === 0), 20_000, 200);
    const reader = createClient({ nodes: addr.slice(0, 3), timeoutMs: 3000, retries: 2 });
    const lost: string[] = [];
    try {
      for (const [key, value] of writer.latest) {
        const r = await reader.get(key, { r: 2 });
        const values = (r?.values ?? []).map((v) => v.toString());
        const allowed = [value, ...(writer.unsure.get(key) ?? [])];
        if (!values.some((v) => allowed.includes(v))) lost.push(`${key}: want ${value}, got ${JSON.stringify(values)}`);
      }
    } finally {
      await reader.close();
    }
    assert.equal(lost, [], `acknowledged writes lost: ${lost.slice(0, 10).join('; ')}`);
  } finally {
    await writer?.stop().catch(() => undefined);
    await cluster.destroy();
  }
});

test.run();
