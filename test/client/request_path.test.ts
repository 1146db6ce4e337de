import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient, ClientError } from '../../src/client/index.js';
import { startFakeNode } from '../helpers/fake_node.js';

const settle = <T>(p: Promise<T>): Promise<{ ok: true } | { ok: false; code: string; safeToRetry: boolean }> =>
  p.then(
    () => ({ ok: true as const }),
    (e: ClientError) => ({ ok: false as const, code: e.code, safeToRetry: e.safeToRetry }),
  );

test('timeouts from the periodic sweep hit exactly the unanswered requests, and the connection stays usable', async () => {
  // Every other request gets no answer.
  const fake = await startFakeNode({ answer: (_id, seen) => seen % 2 === 0 });
  const c = createClient({ nodes: [`127.0.0.1:${fake.port}`], timeoutMs: 5000 });
  await c.ping(); // seen 0: answered
  const results = await Promise.all(Array.from({ length: 20 }, () => settle(c.ping({ timeoutMs: 60 }))));
  // seen 1..20: the odd ones get no answer.
  assert.is(results.filter((r) => r.ok).length, 10);
  for (const r of results) {
    if (!r.ok) {
      assert.is(r.code, 'KV_TIMEOUT');
      assert.is(r.safeToRetry, false, 'written requests are not safe to retry');
    }
  }
  // seen 21 (no answer) then 22 (answered): the connection still works after timeouts.
  assert.equal(await settle(c.ping({ timeoutMs: 60 })), { ok: false, code: 'KV_TIMEOUT', safeToRetry: false });
  assert.equal(await settle(c.ping({ timeoutMs: 1000 })), { ok: true });
  await c.close();
  fake.server.close();
});

test('a request whose connection drops before it was written is retried on a new connection', async () => {
  const fake = await startFakeNode();
  const c = createClient({ nodes: [`127.0.0.1:${fake.port}`], timeoutMs: 2000, retries: 2 });
  await c.ping();
  // Kill the server side; the client's next request is refused by the closed
  // connection (safe to retry) and goes out again over a fresh one.
  for (const s of fake.sockets) s.destroy();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await settle(c.ping()), { ok: true });
  await c.close();
  fake.server.close();
});

test.run();
