import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient } from '../../src/client/index.js';
import { startFakeNode } from '../helpers/fake_node.js';

test('round-robin routing takes a node that went down back into use when it returns, while the others keep answering', async () => {
  const a = await startFakeNode();
  let b = await startFakeNode();
  const bPort = b.port;
  const c = createClient({ nodes: [`127.0.0.1:${a.port}`, `127.0.0.1:${bPort}`], routing: 'any', timeoutMs: 2000, backoff: () => [20, 40, 80, 100, 100, 100, 100, 100, 100, 100][Symbol.iterator]() });
  try {
    for (let i = 0; i < 20; i++) await c.ping();
    assert.ok(b.pings() > 0, 'both nodes are used while both are up');
    await b.stop();
    for (let i = 0; i < 20; i++) await c.ping(); // all on a now
    b = await startFakeNode({ port: bPort });
    // Bounded: the node must be used again well within 400 pings spaced 10 ms apart.
    for (let i = 0; i < 400 && b.pings() === 0; i++) {
      await c.ping();
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(b.pings() > 0, 'the returned node got no request: the client never reconnected to it');
  } finally {
    await c.close();
    await a.stop();
    await b.stop();
  }
});

test.run();
