/**
 * TcpTransport deadlines: one timer per peer link serves every pending
 * request, so each request must still fail at its own deadline, whatever the
 * order the requests were made in, and the timer must come back after the
 * link went idle.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TcpTransport, peerWireCodec } from '../../src/cluster/tcp_transport.js';
import type { PeerHandler } from '../../src/cluster/effects.js';
import { NodeServer } from '../../src/node/server.js';
import { NodeStats } from '../../src/node/stats.js';
import { defaultLimits } from '../../src/node/config.js';
import { StandaloneService } from '../../src/node/service.js';
import type { PeerReply } from '../../protocol/peer_messages.js';
import type { KvError } from '../../src/errors.js';

const start = async (id: string, handler: PeerHandler) => {
  const transport = new TcpTransport({ nodeId: id, codec: peerWireCodec });
  transport.serve(handler);
  const server = new NodeServer({
    host: '127.0.0.1',
    port: 0,
    nodeId: id,
    limits: defaultLimits,
    service: new StandaloneService(null as never),
    stats: new NodeStats(Date.now()),
    peers: transport,
    ringVersion: () => 0n,
  });
  const port = await server.listen();
  return { transport, address: `127.0.0.1:${port}`, close: async () => (await transport.close(), await server.close()) };
};

/** REPLICA_PUT with hintFor 'hang' is answered only when the test releases it; everything else at once. */
const held: (() => void)[] = [];
const handler: PeerHandler = async (_from, req) => {
  if (req.type === 'REPLICA_PUT' && req.hintFor === 'hang') return new Promise<PeerReply>((r) => held.push(() => r({ type: 'ACK', count: 1 })));
  return { type: 'REPLICA_GET_REPLY', found: false, object: new Uint8Array(0) };
};
const hang = { type: 'REPLICA_PUT', partition: 0, key: Buffer.from('k'), object: Buffer.from('o'), hintFor: 'hang' } as const;
const get = { type: 'REPLICA_GET', partition: 0, key: Buffer.from('k') } as const;

test('each pending request times out at its own deadline, in deadline order, not request order; answered ones are unaffected', async () => {
  const a = await start('a', handler);
  const b = await start('b', handler);
  try {
    a.transport.setAddress('b', b.address);
    const order: string[] = [];
    const track = (name: string, p: Promise<unknown>) =>
      p.then(
        () => order.push(`${name}:ok`),
        (e: KvError) => order.push(`${name}:${e.code}`),
      );
    const long = track('long', a.transport.request('b', hang, 1500));
    const short = track('short', a.transport.request('b', hang, 200));
    const answered = track('answered', a.transport.request('b', get, 1500));
    await short;
    assert.equal(order, ['answered:ok', 'short:KV_TIMEOUT']);
    await long;
    assert.equal(order, ['answered:ok', 'short:KV_TIMEOUT', 'long:KV_TIMEOUT']);
    await answered;
    // Idle link, no timer armed: a new request still gets a deadline.
    const again = track('again', a.transport.request('b', hang, 100));
    await again;
    assert.equal(order.at(-1), 'again:KV_TIMEOUT');
    // Late replies to timed-out requests are dropped; the link still works.
    for (const release of held.splice(0)) release();
    assert.is((await a.transport.request('b', get, 1500)).type, 'REPLICA_GET_REPLY');
  } finally {
    await a.close();
    await b.close();
  }
});

test.run();
