/**
 * The simulation with anti-entropy and deletes (issue 7): besides the
 * set-union clients, two clients add and remove set elements (one key per
 * element) under drops, delays, partitions, pauses and crashes. Every seed
 * must end with every primary holding the same object, every acknowledged
 * element on every primary, and no removed element back.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ClusterNode } from '../../src/cluster/cluster_node.js';
import { runScenario } from '../../src/cluster/sim/scenario.js';
import { runSeed } from '../helpers/seed.js';

const run = (seed: number) => runScenario({ seed, makeFactory: () => (o) => new ClusterNode(o), elementClients: 2 });

test('adds and removes of set elements under faults: replicas equal, no removed element back (20 seeds)', async () => {
  const base = runSeed() % 100_000;
  let reaped = 0;
  for (let i = 0; i < 20; i++) {
    const seed = i < 10 ? i + 1 : base + i;
    const r = await run(seed);
    assert.ok(r.ok, `seed ${seed}: ${r.violations.join('; ')} (replay: RINGKV_SIM_SEED=${seed} npm run sim)`);
    reaped += r.counters['aaeTombstonesReaped'] ?? 0;
  }
  assert.ok(reaped > 0, 'tombstones were reaped along the way');
});

test('a seed with element clients replays to the same trace', async () => {
  const a = await run(7);
  const b = await run(7);
  assert.is(a.traceHash, b.traceHash);
});

test.run();
