import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient, ClientError } from '../../src/client/index.js';
import { RawConn, startTestNode, type TestNode } from '../helpers/node.js';
import { encode } from '../../protocol/index.js';
import { rejectsWithCode } from '../helpers/assert.js';

let node: TestNode;

test.before(async () => {
  node = await startTestNode({ limits: { maxKeyBytes: 64, maxValueBytes: 1024, maxFrameBytes: 4096, maxInFlightPerConnection: 64, maxConnections: 50, handshakeTimeoutMs: 300 } });
});
test.after(async () => {
  await node.destroy();
});

const expectError = (p: Promise<unknown>, code: string): Promise<ClientError> => rejectsWithCode(p, code, ClientError);

test('put then get returns the value and a context; delete makes it not found', async () => {
  const c = createClient({ nodes: [node.address] });
  try {
    assert.is(await c.get('absent'), undefined);
    await c.put('k1', 'v1');
    const r = await c.get('k1');
    assert.ok(r);
    assert.equal(r!.values.map(String), ['v1']);
    assert.ok(r!.context.length > 0);
    await c.delete('k1', { context: r!.context });
    assert.is(await c.get('k1'), undefined);
    const raw = await c.getRaw('k1');
    assert.ok(raw.context.length > 0, 'a deleted key still has a context to write over');
    assert.ok(raw.siblings.every((s) => s.tombstone));
  } finally {
    await c.close();
  }
});

test('blind writes become siblings; a write with the context replaces exactly them', async () => {
  const c = createClient({ nodes: [node.address] });
  try {
    await c.put('cart', 'apple');
    await c.put('cart', 'pear');
    const r = await c.get('cart');
    assert.equal(r!.values.map(String).sort(), ['apple', 'pear']);
    await c.put('cart', 'apple,pear', { context: r!.context });
    assert.equal((await c.get('cart'))!.values.map(String), ['apple,pear']);
  } finally {
    await c.close();
  }
});

test('update resolves siblings with the resolver and writes with the context', async () => {
  const union = (vs: readonly Buffer[]) => [...new Set(vs.flatMap((v) => String(v).split(',')))].sort().join(',');
  const c = createClient({ nodes: [node.address], resolver: union });
  try {
    await c.put('set', 'a');
    await c.put('set', 'b'); // concurrent: two siblings
    const written = await c.update('set', (cur) => `${cur},c`);
    assert.is(String(written), 'a,b,c');
    assert.equal((await c.get('set'))!.values.map(String), ['a,b,c']);
    // Without a resolver, siblings are a conflict the caller must handle.
    await c.put('set2', 'x');
    await c.put('set2', 'y');
    const plain = createClient({ nodes: [node.address] });
    await expectError(plain.update('set2', (v) => v ?? ''), 'KV_CONFLICT');
    await plain.close();
  } finally {
    await c.close();
  }
});

test('concurrent read-modify-write clients lose no update (siblings merge them)', async () => {
  const union = (vs: readonly Buffer[]) => [...new Set(vs.flatMap((v) => String(v).split(',').filter(Boolean)))].sort().join(',');
  const clients = Array.from({ length: 4 }, () => createClient({ nodes: [node.address], resolver: union }));
  try {
    await Promise.all(
      clients.map(async (c, i) => {
        for (let j = 0; j < 10; j++) await c.update('shared', (cur) => union([Buffer.from(`${cur ?? ''},${i}-${j}`)]));
      }),
    );
    const r = await clients[0]!.get('shared');
    const all = new Set(r!.values.flatMap((v) => String(v).split(',')));
    for (let i = 0; i < 4; i++) for (let j = 0; j < 10; j++) assert.ok(all.has(`${i}-${j}`), `lost ${i}-${j}`);
    assert.ok(r!.values.length <= 4, 'siblings bounded by the number of concurrent writers');
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

test('an oversized key or value gets KV_TOO_LARGE and the connection stays usable', async () => {
  const c = createClient({ nodes: [node.address] });
  try {
    await expectError(c.put('k'.repeat(65), 'v'), 'KV_TOO_LARGE');
    await expectError(c.put('k', Buffer.alloc(1025)), 'KV_TOO_LARGE');
    await c.put('k', Buffer.alloc(1024));
    assert.is((await c.get('k'))!.values[0]!.length, 1024);
  } finally {
    await c.close();
  }
});

test('w or r above the replicas a standalone node has is KV_UNAVAILABLE', async () => {
  const c = createClient({ nodes: [node.address] });
  try {
    await expectError(c.put('k', 'v', { w: 2 }), 'KV_UNAVAILABLE');
    await expectError(c.get('k', { r: 3 }), 'KV_UNAVAILABLE');
  } finally {
    await c.close();
  }
});

test('a request before HELLO gets ERROR KV_BAD_FRAME on stream 0 and the connection is closed', async () => {
  const raw = await RawConn.open(node.port);
  raw.send({ op: 'PING', streamId: 1, payload: new Uint8Array(0) });
  const m = await raw.next();
  assert.is(m.op, 'ERROR');
  assert.is(m.streamId, 0);
  assert.is((m as { code: string }).code, 'KV_BAD_FRAME');
  assert.ok(await raw.waitClosed());
});

test('garbage bytes get an error frame and a close; the node keeps serving others', async () => {
  const raw = await RawConn.open(node.port);
  await raw.hello();
  raw.sendBytes(Buffer.from([0, 0, 0, 12, 9, 9, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8]));
  const m = await raw.next();
  assert.is(m.op, 'ERROR');
  assert.is((m as { code: string }).code, 'KV_BAD_FRAME');
  assert.ok(await raw.waitClosed());
  const c = createClient({ nodes: [node.address] });
  await c.ping();
  await c.close();
});

test('a frame longer than maxFrameBytes is refused with KV_TOO_LARGE before its body arrives', async () => {
  const raw = await RawConn.open(node.port);
  await raw.hello();
  raw.sendBytes(Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 0x10, 0, 0, 0, 0, 0, 1])); // claims 2 GiB
  const m = await raw.next();
  assert.is((m as { code: string }).code, 'KV_TOO_LARGE');
  assert.ok(await raw.waitClosed());
});

test('an unknown opcode gets KV_UNSUPPORTED on its stream; the connection stays open', async () => {
  const raw = await RawConn.open(node.port);
  await raw.hello();
  raw.sendBytes(Buffer.from([0, 0, 0, 8, 1, 0x3a, 0, 0, 0, 0, 0, 7]));
  const m = await raw.next();
  assert.is(m.op, 'ERROR');
  assert.is(m.streamId, 7);
  assert.is((m as { code: string }).code, 'KV_UNSUPPORTED');
  raw.send({ op: 'PING', streamId: 8, payload: Buffer.from('x') });
  assert.is((await raw.next()).op, 'PONG');
  raw.close();
});

test('a connection that never says HELLO is closed by the handshake timeout', async () => {
  const raw = await RawConn.open(node.port);
  raw.sendBytes(Buffer.from([0, 0])); // a slow start, then nothing
  assert.ok(await raw.waitClosed(3000));
});

test('requests beyond maxInFlight per connection get KV_OVERLOADED, the rest succeed', async () => {
  const raw = await RawConn.open(node.port);
  await raw.hello();
  const msgs = Array.from({ length: 200 }, (_, i) => ({ op: 'PUT' as const, streamId: i + 1, key: Buffer.from(`of${i}`), value: Buffer.from('v'), context: new Uint8Array(0), w: 0, timeoutMs: 0 }));
  raw.sendBytes(Buffer.concat(msgs.map((m) => encode(m))));
  const replies = [];
  for (let i = 0; i < 200; i++) replies.push(await raw.next());
  const overloaded = replies.filter((r) => r.op === 'ERROR' && (r as { code: string }).code === 'KV_OVERLOADED');
  const ok = replies.filter((r) => r.op === 'PUT_REPLY');
  assert.is(ok.length + overloaded.length, 200);
  assert.ok(ok.length >= 64);
  raw.close();
});

test('connections beyond maxConnections are refused with KV_OVERLOADED; existing clients keep working', async () => {
  const c = createClient({ nodes: [node.address] });
  await c.ping();
  const conns: RawConn[] = [];
  for (let i = 0; i < 60; i++) conns.push(await RawConn.open(node.port));
  let refused = 0;
  for (const r of conns) {
    try {
      const m = await r.next();
      if (m.op === 'ERROR' && (m as { code: string }).code === 'KV_OVERLOADED') refused++;
    } catch {
      // accepted connections send nothing before HELLO
    }
    if (refused > 0) break;
  }
  assert.ok(refused > 0, 'some connection was refused');
  await c.ping();
  conns.forEach((r) => r.close());
  await c.close();
});

test('stats report ops and latency percentiles', async () => {
  const c = createClient({ nodes: [node.address] });
  await c.put('s', '1');
  await c.get('s');
  const s = await c.stats();
  assert.ok((s['ops.put'] ?? 0) >= 1);
  assert.ok((s['ops.get'] ?? 0) >= 1);
  assert.ok('latency.get.p999Us' in s);
  assert.ok((s['gauges.connections'] ?? 0) >= 1);
  await c.close();
});

test('client: a dead node gives KV_UNAVAILABLE quickly, and the client reconnects after a restart', async () => {
  const n2 = await startTestNode();
  const port = n2.port;
  const c = createClient({ nodes: [n2.address], timeoutMs: 2000, connectTimeoutMs: 500 });
  await c.put('x', '1');
  await n2.close();
  const err = await c.get('x').then(
    () => undefined,
    (e: ClientError) => e,
  );
  assert.ok(err !== undefined && ['KV_UNAVAILABLE', 'KV_TIMEOUT'].includes(err.code));
  const n3 = await startTestNode({ port }, n2.dir);
  // The client backs off, then finds the node again.
  let ok = false;
  for (let i = 0; i < 40 && !ok; i++) {
    try {
      await c.ping({ timeoutMs: 500 });
      ok = true;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.ok(ok, 'reconnected');
  await c.close();
  await n3.destroy();
});

test('client: a timeout and an abort reject with KV_TIMEOUT and KV_ABORTED', async () => {
  // A server that accepts HELLO and then never answers.
  const { createServer } = await import('node:net');
  const { FrameWriter } = await import('../../protocol/index.js');
  const silent = createServer((s) => {
    s.once('data', () => {
      const w = new FrameWriter();
      w.write({ op: 'HELLO_OK', streamId: 0, version: 1, nodeId: 'silent', maxFrameBytes: 1 << 20, maxKeyBytes: 1024, maxValueBytes: 1 << 20, maxInFlight: 100, ringVersion: 0n });
      s.write(w.take());
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as { port: number }).port;
  const c = createClient({ nodes: [`127.0.0.1:${port}`], timeoutMs: 200 });
  const t = await expectError(c.get('k'), 'KV_TIMEOUT');
  assert.is(t.safeToRetry, false, 'the request was written: retrying could apply it twice');
  const ac = new AbortController();
  const p = c.put('k', 'v', { signal: ac.signal, timeoutMs: 5000 });
  setTimeout(() => ac.abort(), 20);
  await expectError(p, 'KV_ABORTED');
  await c.close();
  await expectError(c.get('k'), 'KV_CLOSED');
  silent.close();
});

test('bad arguments to the SDK are TypeErrors', async () => {
  assert.throws(() => createClient({ nodes: [] }), TypeError);
  assert.throws(() => createClient({ nodes: ['nohost'] }), TypeError);
  const c = createClient({ nodes: [node.address] });
  await c.put(42 as unknown as string, 'v').then(
    () => assert.unreachable(),
    (e) => assert.instance(e, TypeError),
  );
  await c.close();
});

test.run();
