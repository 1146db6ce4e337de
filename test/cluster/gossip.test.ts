import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TestCluster } from '../helpers/fake_transport.js';
import { ringVersionOf } from '../../src/cluster/ring_state.js';

test('gossip through one seed converges membership and the ring on 5 nodes', async () => {
  const c = await TestCluster.start(['n1', 'n2', 'n3', 'n4', 'n5']);
  const versions = new Set([...c.members.values()].map((m) => m.node.ringVersion()));
  assert.is(versions.size, 1, 'every node computes the same ring');
  for (const m of c.members.values()) {
    const s = m.node.status();
    assert.is(s.members.length, 5);
    assert.is(s.members.reduce((a, x) => a + x.partitions, 0), 2 ** c.config.partitionBits);
    assert.ok(s.members.every((x) => x.up), `${m.id} sees every member up`);
    assert.ok(s.partitionsHeld > 0);
  }
  await c.stopAll();
});

test('a silent node becomes suspected by phi, and up again on fresh heartbeats', async () => {
  const c = await TestCluster.start(['n1', 'n2', 'n3']);
  await c.clock.advance(5000); // a few heartbeats for the detectors' windows
  assert.ok(c.node('n1').isUp('n3'));
  c.net.isolated.add('n3');
  const phiOf = (id: string) => c.node(id).status().members.find((m) => m.id === 'n3')!.phi;
  // Failed gossip requests may suspect it first; phi gets there too, without any request.
  await c.until(() => !c.node('n1').isUp('n3') && !c.node('n2').isUp('n3') && phiOf('n1') >= c.config.phiThreshold);
  const seen = c.node('n1').status().members.find((m) => m.id === 'n3')!;
  assert.not.ok(seen.up);
  assert.ok(seen.phi >= c.config.phiThreshold, `phi ${seen.phi} over the threshold`);
  // Detection is local: the view still says up (nobody marks others down).
  assert.is(seen.status, 'up');
  c.net.isolated.delete('n3');
  await c.until(() => c.node('n1').isUp('n3') && c.node('n2').isUp('n3'));
  await c.stopAll();
});

test('a node that answers but stops heartbeating is suspected by phi alone', async () => {
  const c = await TestCluster.start(['n1', 'n2', 'n3']);
  await c.clock.advance(5000);
  // n3's timers stop (no heartbeats), but it still answers: no request fails.
  await c.node('n3').stop();
  await c.until(() => !c.node('n1').isUp('n3'));
  const seen = c.node('n1').status().members.find((m) => m.id === 'n3')!;
  assert.ok(seen.phi >= c.config.phiThreshold, `phi ${seen.phi}`);
  assert.is(c.members.get('n1')!.stats.counter('peerRequestFailures'), 0, 'suspected without a failed request');
  await c.restart('n3');
  await c.until(() => c.node('n1').isUp('n3'));
  assert.ok(c.node('n1').status().members.find((m) => m.id === 'n3')!.incarnation > 1, 'the restart shows a higher incarnation');
  await c.stopAll();
});

test('consecutive request failures suspect a peer before phi does', async () => {
  const c = await TestCluster.start(['n1', 'n2', 'n3'], { requestTimeoutMs: 300, peerTimeoutMs: 100 });
  await c.clock.advance(3000);
  // Drop only replica traffic to n3: its gossip still flows, so phi stays low.
  c.net.filter = (_f, to, req) => !(to === 'n3' && req.type === 'REPLICA_GET');
  const key = new TextEncoder().encode('k');
  for (let i = 0; i < c.config.maxConsecutiveFailures && c.node('n1').isUp('n3'); i++) {
    const p = c.node('n1').get(key, 1, 0).catch(() => undefined);
    await c.clock.advance(150);
    await p;
  }
  // Each get sent REPLICA_GET to n3 only if n3 is one of the key's targets; with N = 3 on 3 nodes it always is.
  assert.not.ok(c.node('n1').isUp('n3'), 'n3 suspected after K failed requests');
  assert.ok(c.node('n1').status().members.find((m) => m.id === 'n3')!.phi < c.config.phiThreshold);
  c.net.filter = () => true;
  await c.until(() => c.node('n1').isUp('n3'));
  await c.stopAll();
});

test('ringVersion is FNV-1a 64 over the owners and tells owner lists apart', () => {
  // FNV-1a 64 of the empty input is the offset basis.
  assert.is(ringVersionOf([]), 0xcbf29ce484222325n);
  assert.is.not(ringVersionOf(['ab', 'c']), ringVersionOf(['a', 'bc']));
  assert.is(ringVersionOf(['n1', 'n2']), ringVersionOf(['n1', 'n2']));
  assert.is.not(ringVersionOf(['n1', 'n2']), ringVersionOf(['n2', 'n1']));
});

test.run();
