/**
 * TcpTransport over real loopback sockets between NodeServers in this
 * process, with a trivial PeerHandler: request/reply matching, seeds learned
 * from HELLO_OK, errors and timeouts, reconnecting, and the server's rules
 * for node opcodes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TcpTransport, peerWireCodec } from '../../src/cluster/tcp_transport.js';
import type { PeerHandler } from '../../src/cluster/effects.js';
import { NodeServer } from '../../src/node/server.js';
import { NodeStats } from '../../src/node/stats.js';
import { defaultLimits } from '../../src/node/config.js';
import { StandaloneService } from '../../src/node/service.js';
import { KvError } from '../../src/errors.js';
import type { PeerReply } from '../../protocol/peer_messages.js';
import { exponentialBackoff } from '../../src/client/backoff.js';
import { RawConn } from '../helpers/node.js';
import { freePort } from '../helpers/cluster.js';
import { rejectsWithCode } from '../helpers/assert.js';

const codec = peerWireCodec;

interface Peer {
  readonly id: string;
  readonly server: NodeServer;
  readonly transport: TcpTransport;
  readonly port: number;
  readonly address: string;
  close(): Promise<void>;
}

const noService = new StandaloneService(null as never);

const startPeer = async (id: string, handler: PeerHandler | undefined, port = 0, ringVersion = 0n): Promise<Peer> => {
  const transport = new TcpTransport({ nodeId: id, codec, backoff: exponentialBackoff({ baseMs: 200, maxMs: 200, random: () => 0.999 }) });
  if (handler !== undefined) transport.serve(handler);
  const server = new NodeServer({
    host: '127.0.0.1',
    port,
    nodeId: id,
    limits: defaultLimits,
    service: noService,
    stats: new NodeStats(Date.now()),
    peers: transport,
    ringVersion: () => ringVersion,
  });
  const bound = await server.listen();
  return {
    id,
    server,
    transport,
    port: bound,
    address: `127.0.0.1:${bound}`,
    close: async () => {
      await transport.close();
      await server.close();
    },
  };
};

/** Echo: REPLICA_GET answers found with the key as the object; GOSSIP echoes entries. */
const echo: PeerHandler = async (from, req) => {
  if (req.type === 'REPLICA_GET') return { type: 'REPLICA_GET_REPLY', found: true, object: Buffer.concat([Buffer.from(from + ':'), req.key]) };
  if (req.type === 'GOSSIP') return { type: 'GOSSIP_REPLY', entries: req.entries };
  if (req.type === 'REPLICA_PUT') {
    if (req.hintFor === 'conflict') throw new KvError('KV_CONFLICT', 'refused on purpose');
    if (req.hintFor === 'crash') throw new Error('handler bug');
    // Answers long after the callers' deadlines (but before the servers close).
    if (req.hintFor === 'hang') return new Promise<PeerReply>((r) => setTimeout(() => r({ type: 'ACK', count: 1 }), 800));
    return { type: 'ACK', count: 1 };
  }
  return { type: 'PEER_ERROR', code: 'KV_UNSUPPORTED', message: req.type };
};

const rejects = rejectsWithCode;

const get = (key: string) => ({ type: 'REPLICA_GET', partition: 1, key: Buffer.from(key) }) as const;

test('requests to a peer by id are answered, each reply matched to its request', async () => {
  const a = await startPeer('a', echo);
  const b = await startPeer('b', echo);
  try {
    a.transport.setAddress('b', b.address);
    const keys = Array.from({ length: 300 }, (_, i) => `key-${i}`);
    const replies = await Promise.all(keys.map((k) => a.transport.request('b', get(k), 2000)));
    replies.forEach((r, i) => {
      assert.is(r.type, 'REPLICA_GET_REPLY');
      if (r.type === 'REPLICA_GET_REPLY') assert.is(Buffer.from(r.object).toString(), `a:${keys[i]}`, 'the handler saw the sender id from HELLO');
    });
    const g = await a.transport.request('b', { type: 'GOSSIP', entries: [{ id: 'x', address: 'y', status: 'up', incarnation: 2, heartbeat: 7, claimVersion: 1, weight: 1 }] }, 2000);
    assert.equal(g, { type: 'GOSSIP_REPLY', entries: [{ id: 'x', address: 'y', status: 'up', incarnation: 2, heartbeat: 7, claimVersion: 1, weight: 1 }] });
  } finally {
    await a.close();
    await b.close();
  }
});

test('requestAddress reaches a seed and learns its id from HELLO_OK; later requests by id work', async () => {
  const a = await startPeer('a', echo);
  const seed = await startPeer('seed-7', echo, 0, 42n);
  try {
    const { from, reply } = await a.transport.requestAddress(seed.address, get('k'), 2000);
    assert.is(from, 'seed-7');
    assert.is(reply.type, 'REPLICA_GET_REPLY');
    assert.is(a.transport.addressOf('seed-7'), seed.address);
    assert.is(a.transport.peerRingVersions.get('seed-7'), 42n, 'HELLO_OK carried the ring version');
    assert.is((await a.transport.request('seed-7', get('k2'), 2000)).type, 'REPLICA_GET_REPLY');
  } finally {
    await a.close();
    await seed.close();
  }
});

test('a handler failure rejects with its code; a non-KvError becomes KV_INTERNAL; PEER_ERROR replies reject', async () => {
  const a = await startPeer('a', echo);
  const b = await startPeer('b', echo);
  try {
    a.transport.setAddress('b', b.address);
    const put = (hintFor: string) => ({ type: 'REPLICA_PUT', partition: 0, key: Buffer.from('k'), object: Buffer.from('o'), hintFor }) as const;
    assert.equal(await a.transport.request('b', put(''), 2000), { type: 'ACK', count: 1 });
    await rejects(a.transport.request('b', put('conflict'), 2000), 'KV_CONFLICT');
    await rejects(a.transport.request('b', put('crash'), 2000), 'KV_INTERNAL');
    await rejects(a.transport.request('b', { type: 'FORWARD', op: 'get', key: Buffer.from('k'), value: new Uint8Array(0), context: new Uint8Array(0), quorum: 0, timeoutMs: 100 }, 2000), 'KV_UNSUPPORTED');
    // The connection survives request-level errors.
    assert.is((await a.transport.request('b', get('after'), 2000)).type, 'REPLICA_GET_REPLY');
  } finally {
    await a.close();
    await b.close();
  }
});

test('a request nobody answers fails with KV_TIMEOUT; a node with no handler yet answers KV_UNAVAILABLE', async () => {
  const a = await startPeer('a', echo);
  const b = await startPeer('b', echo);
  const c = await startPeer('c', undefined);
  try {
    a.transport.setAddress('b', b.address);
    a.transport.setAddress('c', c.address);
    await rejects(a.transport.request('b', { type: 'REPLICA_PUT', partition: 0, key: Buffer.from('k'), object: Buffer.from('o'), hintFor: 'hang' }, 150), 'KV_TIMEOUT');
    await rejects(a.transport.request('c', get('k'), 2000), 'KV_UNAVAILABLE');
    c.transport.serve(echo);
    assert.is((await a.transport.request('c', get('k'), 2000)).type, 'REPLICA_GET_REPLY');
  } finally {
    await a.close();
    await b.close();
    await c.close();
  }
});

test('unknown ids and dead addresses fail with KV_UNAVAILABLE; a restarted peer is reached again', async () => {
  const a = await startPeer('a', echo);
  try {
    await rejects(a.transport.request('nobody', get('k'), 500), 'KV_UNAVAILABLE');
    const port = await freePort();
    a.transport.setAddress('b', `127.0.0.1:${port}`);
    await rejects(a.transport.request('b', get('k'), 500), 'KV_UNAVAILABLE');
    // Within the backoff delay the transport does not even try.
    await rejects(a.transport.request('b', get('k'), 500), 'KV_UNAVAILABLE');
    let b = await startPeer('b', echo, port);
    await new Promise((r) => setTimeout(r, 250)); // past the 200 ms backoff
    assert.is((await a.transport.request('b', get('k'), 2000)).type, 'REPLICA_GET_REPLY');
    await b.close();
    await rejects(a.transport.request('b', get('k'), 500), 'KV_UNAVAILABLE');
    b = await startPeer('b', echo, port);
    await new Promise((r) => setTimeout(r, 250));
    assert.is((await a.transport.request('b', get('k'), 2000)).type, 'REPLICA_GET_REPLY');
    await b.close();
  } finally {
    await a.close();
  }
});

test('a client connection sending a node opcode gets KV_FORBIDDEN; the connection stays usable', async () => {
  const b = await startPeer('b', echo, 0, 9n);
  const conn = await RawConn.open(b.port);
  try {
    const ok = await conn.hello();
    assert.is(ok.op, 'HELLO_OK');
    if (ok.op === 'HELLO_OK') assert.is(ok.ringVersion, 9n);
    conn.send(codec.requestToMessage(5, get('k')));
    const err = await conn.next();
    assert.is(err.op, 'ERROR');
    if (err.op === 'ERROR') {
      assert.is(err.code, 'KV_FORBIDDEN');
      assert.is(err.streamId, 5);
    }
    conn.send({ op: 'PING', streamId: 6, payload: new Uint8Array([1]) });
    assert.is((await conn.next()).op, 'PONG');
  } finally {
    conn.close();
    await b.close();
  }
});

test('closing the transport fails requests in flight with KV_CLOSED', async () => {
  const a = await startPeer('a', echo);
  const b = await startPeer('b', echo);
  try {
    a.transport.setAddress('b', b.address);
    const p = a.transport.request('b', { type: 'REPLICA_PUT', partition: 0, key: Buffer.from('k'), object: Buffer.from('o'), hintFor: 'hang' }, 5000);
    await new Promise((r) => setTimeout(r, 50));
    await a.transport.close();
    await rejects(p, 'KV_CLOSED');
    await rejects(a.transport.request('b', get('k'), 500), 'KV_CLOSED');
  } finally {
    await a.close();
    await b.close();
  }
});

test.run();
