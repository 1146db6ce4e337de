import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server, type Socket } from 'node:net';
import { createClient } from '../../src/client/index.js';
import { FrameDecoder, FrameWriter, decodeMessage } from '../../protocol/index.js';
import * as E from 'fp-ts/lib/Either.js';

/** A node stand-in that answers HELLO and PING and counts the PINGs it answered. */
const startFake = async (port = 0): Promise<{ server: Server; port: number; sockets: Socket[]; pings: () => number }> => {
  const sockets: Socket[] = [];
  let pings = 0;
  const server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
    s.on('data', (chunk) => {
      decoder.push(chunk);
      const w = new FrameWriter();
      for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
        const m = decodeMessage(f);
        if (E.isLeft(m)) continue;
        const msg = m.right;
        if (msg.op === 'HELLO') {
          w.write({ op: 'HELLO_OK', streamId: 0, version: 1, nodeId: 'fake', maxFrameBytes: 1 << 20, maxKeyBytes: 1024, maxValueBytes: 1 << 20, maxInFlight: 1000, ringVersion: 0n });
        } else if (msg.op === 'PING') {
          pings++;
          w.write({ op: 'PONG', streamId: msg.streamId, payload: new Uint8Array(0) });
        }
      }
      if (w.pendingBytes > 0) s.write(w.take());
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, sockets, pings: () => pings };
};

const stop = async (f: { server: Server; sockets: Socket[] }): Promise<void> => {
  for (const s of f.sockets) s.destroy();
  await new Promise((r) => f.server.close(r));
};

test('round-robin routing takes a node that went down back into use when it returns, while the others keep answering', async () => {
  const a = await startFake();
  let b = await startFake();
  const bPort = b.port;
  const c = createClient({ nodes: [`127.0.0.1:${a.port}`, `127.0.0.1:${bPort}`], routing: 'any', timeoutMs: 2000, backoff: () => [20, 40, 80, 100, 100, 100, 100, 100, 100, 100][Symbol.iterator]() });
  try {
    for (let i = 0; i < 20; i++) await c.ping();
    assert.ok(b.pings() > 0, 'both nodes are used while both are up');
    await stop(b);
    for (let i = 0; i < 20; i++) await c.ping(); // all on a now
    b = await startFake(bPort);
    // Bounded: the node must be used again well within 400 pings spaced 10 ms apart.
    for (let i = 0; i < 400 && b.pings() === 0; i++) {
      await c.ping();
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(b.pings() > 0, 'the returned node got no request: the client never reconnected to it');
  } finally {
    await c.close();
    await stop(a);
    await stop(b);
  }
});

test.run();
