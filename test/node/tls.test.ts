/**
 * Issue #9: TLS for clients and node-to-node links, and the connection
 * limits (handshake timeout against slow-loris, connections per address).
 * Certificates are made once for this file with openssl (src/cli/certs.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as netConnect, type Socket } from 'node:net';
import { createClient, ClientError } from '../../src/client/index.js';
import { generateDevPki, type DevPki } from '../../src/cli/certs.js';
import { readReplicaAt } from '../../src/node/node.js';
import { RawConn, startTestNode, type TestNode } from '../helpers/node.js';
import { addUser } from '../../src/auth/users.js';
import { Secret } from '../../src/auth/secret.js';

let dir: string;
let pki: DevPki;
let rogue: DevPki;
const started: TestNode[] = [];

test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ringkv-tls-'));
  pki = generateDevPki(join(dir, 'pki'), ['n1', 'n2'], 2);
  // A second, unrelated CA: its certificates must be refused.
  rogue = generateDevPki(join(dir, 'rogue'), ['n1'], 2);
});

test.after(async () => {
  await Promise.all(started.map((n) => n.destroy()));
  rmSync(dir, { recursive: true, force: true });
});

const tlsNode = async (overrides: Parameters<typeof startTestNode>[0] = {}): Promise<TestNode> => {
  const n = await startTestNode({ tlsCert: pki.nodes['n1']!.cert, tlsKey: pki.nodes['n1']!.key, tlsCa: pki.ca, ...overrides });
  started.push(n);
  return n;
};

const pem = (path: string): Buffer => readFileSync(path);

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (e) {
    assert.instance(e, ClientError);
    return (e as ClientError).code;
  }
  return 'no error';
};

test('TLS round trip: put, get and stats over TLS with the CA; stats report TLS and the limits', async () => {
  const node = await tlsNode();
  const c = createClient({ nodes: [node.address], tls: { ca: pem(pki.ca) } });
  try {
    await c.put('secret', 'value');
    assert.equal((await c.get('secret'))!.values.map(String), ['value']);
    const s = await c.stats();
    assert.is(s['tls.enabled'], 1);
    assert.is(s['tls.clientAuthRequired'], 0);
    assert.is(s['limits.maxConnectionsPerAddress'], 1000);
    assert.is(s['limits.handshakeTimeoutMs'], 10_000);
    assert.is(s['limits.maxInFlightPerConnection'], 1024);
  } finally {
    await c.close();
  }
});

test('a TLS client that does not trust the node certificate gets KV_AUTH; a plaintext client gets no service', async () => {
  const node = await tlsNode();
  const untrusting = createClient({ nodes: [node.address], tls: { ca: pem(rogue.ca) }, retries: 0, connectTimeoutMs: 2000 });
  assert.is(await codeOf(untrusting.ping()), 'KV_AUTH');
  await untrusting.close();
  const plain = createClient({ nodes: [node.address], retries: 0, connectTimeoutMs: 2000 });
  const code = await codeOf(plain.ping());
  assert.ok(code === 'KV_UNAVAILABLE' || code === 'KV_TIMEOUT', code);
  await plain.close();
  const wrongName = createClient({ nodes: [node.address], tls: { ca: pem(pki.ca), servername: 'not-this-node.example' }, retries: 0 });
  assert.is(await codeOf(wrongName.ping()), 'KV_AUTH');
  await wrongName.close();
});

test('mutual TLS: no client certificate or one from another CA is refused; the CA-signed one works', async () => {
  const node = await tlsNode({ tlsClientAuth: 'require' });
  const none = createClient({ nodes: [node.address], tls: { ca: pem(pki.ca) }, retries: 0, connectTimeoutMs: 2000 });
  assert.ok(['KV_AUTH', 'KV_UNAVAILABLE'].includes(await codeOf(none.ping())));
  await none.close();
  const foreign = createClient({ nodes: [node.address], tls: { ca: pem(pki.ca), cert: pem(rogue.client.cert), key: pem(rogue.client.key) }, retries: 0, connectTimeoutMs: 2000 });
  assert.ok(['KV_AUTH', 'KV_UNAVAILABLE'].includes(await codeOf(foreign.ping())));
  await foreign.close();
  const good = createClient({ nodes: [node.address], tls: { ca: pem(pki.ca), cert: pem(pki.client.cert), key: pem(pki.client.key) } });
  await good.put('m', 'tls');
  assert.equal((await good.get('m'))!.values.map(String), ['tls']);
  const s = await good.stats();
  assert.is(s['tls.clientAuthRequired'], 1);
  assert.ok((s['counters.tlsHandshakeFailures'] ?? 0) >= 1, 'the refused handshakes are counted');
  await good.close();
});

test('node-to-node over mutual TLS: a W=2 write reaches the other node, read back from its replica', async () => {
  const cluster = { cluster: true, n: 2, r: 2, w: 2, gossipIntervalMs: 100, handoffIntervalMs: 100, tlsClientAuth: 'require' as const };
  const a = await tlsNode({ ...cluster, tlsCert: pki.nodes['n1']!.cert, tlsKey: pki.nodes['n1']!.key });
  const b = await tlsNode({ ...cluster, tlsCert: pki.nodes['n2']!.cert, tlsKey: pki.nodes['n2']!.key, join: [a.address] });
  const tls = { ca: pem(pki.ca), cert: pem(pki.client.cert), key: pem(pki.client.key) };
  const c = createClient({ nodes: [a.address], tls, timeoutMs: 2000 });
  try {
    // Membership spreads by gossip; retry until both nodes count each other.
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await c.put('replicated', 'over-tls', { w: 2 });
        break;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const onB = await readReplicaAt(b.address, Buffer.from('replicated'), { partitionBits: 6, timeoutMs: 2000, tls });
    assert.equal(onB.siblings.filter((s) => !s.tombstone).map((s) => Buffer.from(s.value).toString()), ['over-tls']);
    // A peer link without a CA-signed certificate gets nothing from the node.
    const stranger = readReplicaAt(b.address, Buffer.from('replicated'), { partitionBits: 6, timeoutMs: 2000, tls: { ca: pem(pki.ca) } });
    const code = await stranger.then(
      () => 'no error',
      (e: { code?: string }) => e.code,
    );
    assert.ok(code === 'KV_AUTH' || code === 'KV_UNAVAILABLE', String(code));
  } finally {
    await c.close();
  }
});

test('TLS and authentication together: SCRAM login inside TLS; a wrong password is still KV_AUTH', async () => {
  const nodeDir = mkdtempSync(join(dir, 'authnode-'));
  addUser(nodeDir, 'writer', 'readwrite', new Secret('writer-pass'), 64);
  const node = await startTestNode({ auth: true, tlsCert: pki.nodes['n1']!.cert, tlsKey: pki.nodes['n1']!.key, tlsCa: pki.ca }, nodeDir);
  started.push(node);
  const c = createClient({ nodes: [node.address], tls: { ca: pem(pki.ca) }, user: 'writer', password: 'writer-pass' });
  await c.put('both', 'layers');
  assert.equal((await c.get('both'))!.values.map(String), ['layers']);
  await c.close();
  const wrong = createClient({ nodes: [node.address], tls: { ca: pem(pki.ca) }, user: 'writer', password: 'nope', retries: 0 });
  assert.is(await codeOf(wrong.ping()), 'KV_AUTH');
  await wrong.close();
});

/** Opens a TCP socket and writes one byte a second (forever, until closed); resolves when the node closes it. */
const slowLoris = (port: number, bytes: Uint8Array): { closed: Promise<number>; socket: Socket } => {
  const socket = netConnect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  const startedMs = Date.now();
  let i = 0;
  const timer = setInterval(() => {
    if (!socket.destroyed) socket.write(bytes.subarray(i % bytes.length, (i % bytes.length) + 1));
    i++;
  }, 1000);
  const closed = new Promise<number>((resolve) =>
    socket.once('close', () => {
      clearInterval(timer);
      resolve(i);
    }),
  );
  // Bound the test: a node that never closes it fails the assertion below, not the run.
  const guard = setTimeout(() => socket.destroy(), 15_000);
  void closed.then(() => clearTimeout(guard));
  void startedMs;
  return { closed, socket };
};

test('slow-loris (one byte a second) is closed by the handshake timeout, plaintext and TLS', async () => {
  const limits = { handshakeTimeoutMs: 2500 };
  const plain = await startTestNode({ limits });
  started.push(plain);
  const secure = await tlsNode({ limits });
  // The start of a real HELLO frame, then a TLS ClientHello's first bytes: each keeps the socket busy.
  const hello = Buffer.from([0x52, 0x4b, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40]);
  const tlsStart = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
  const [p, t] = [slowLoris(plain.port, hello), slowLoris(secure.port, tlsStart)];
  const [pBytes, tBytes] = await Promise.all([p.closed, t.closed]);
  // Closed by the node after ~2.5 s, long before the 15 s guard (which would leave ~15 bytes sent).
  assert.ok(pBytes < 10, `plaintext slow-loris sent ${pBytes} bytes before the close`);
  assert.ok(tBytes < 10, `TLS slow-loris sent ${tBytes} bytes before the close`);
  const c = createClient({ nodes: [secure.address], tls: { ca: pem(pki.ca) } });
  const s = await c.stats();
  assert.ok((s['counters.handshakeTimeouts'] ?? 0) >= 1);
  await c.close();
  const pc = createClient({ nodes: [plain.address] });
  assert.ok(((await pc.stats())['counters.handshakeTimeouts'] ?? 0) >= 1);
  await pc.close();
});

test('an idle connection is closed with KV_TIMEOUT after the idle timeout; the SDK reconnects for the next request', async () => {
  const node = await startTestNode({ limits: { idleTimeoutMs: 400 } });
  started.push(node);
  const raw = await RawConn.open(node.port);
  assert.is((await raw.hello()).op, 'HELLO_OK');
  const m = await raw.next();
  assert.is(m.op, 'ERROR');
  assert.is((m as { code: string }).code, 'KV_TIMEOUT');
  assert.ok(await raw.waitClosed(3000));
  const c = createClient({ nodes: [node.address] });
  await c.ping();
  await new Promise((r) => setTimeout(r, 900));
  await c.ping();
  assert.ok(((await c.stats())['counters.idleTimeouts'] ?? 0) >= 2);
  await c.close();
});

test('a flood of connections beyond the per-address limit is refused with KV_OVERLOADED; existing clients keep working', async () => {
  const node = await startTestNode({ limits: { maxConnectionsPerAddress: 8, maxConnections: 1000 } });
  started.push(node);
  const c = createClient({ nodes: [node.address] });
  await c.put('before', 'flood');
  const flood: RawConn[] = [];
  for (let i = 0; i < 40; i++) flood.push(await RawConn.open(node.port));
  let refused = 0;
  for (const r of flood) {
    try {
      const m = await Promise.race([r.next(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('quiet')), 200))]);
      if (m.op === 'ERROR' && (m as { code: string }).code === 'KV_OVERLOADED') refused++;
    } catch {
      // an accepted connection says nothing before HELLO
    }
  }
  assert.ok(refused >= 40 - 8, `refused ${refused} of 40`);
  // The client opened its connection first: it is served throughout.
  assert.equal((await c.get('before'))!.values.map(String), ['flood']);
  await c.put('during', 'flood');
  const s = await c.stats();
  assert.ok((s['counters.connectionsRefusedPerAddress'] ?? 0) >= 32);
  assert.is(s['limits.maxConnectionsPerAddress'], 8);
  flood.forEach((r) => r.close());
  await c.close();
});

test('a TLS flood beyond the limit is closed before any handshake; the TLS client keeps working', async () => {
  const node = await tlsNode({ limits: { maxConnectionsPerAddress: 4 } });
  const c = createClient({ nodes: [node.address], tls: { ca: pem(pki.ca) } });
  await c.ping();
  const sockets = await Promise.all(
    Array.from(
      { length: 20 },
      () =>
        new Promise<Socket>((resolve) => {
          const s = netConnect({ host: '127.0.0.1', port: node.port }, () => resolve(s));
          s.on('error', () => undefined);
        }),
    ),
  );
  const closed = await Promise.all(sockets.map((s) => new Promise<boolean>((r) => (s.destroyed ? r(true) : (s.once('close', () => r(true)), setTimeout(() => r(false), 1000))))));
  assert.ok(closed.filter((x) => x).length >= 20 - 4);
  await c.ping();
  sockets.forEach((s) => s.destroy());
  await c.close();
});

test('certificate rotation: reloadTls (SIGHUP) serves new connections with the new files; bad files keep the old ones', async () => {
  const live = join(dir, 'live');
  mkdirSync(live, { recursive: true });
  const files = { cert: join(live, 'node.crt'), key: join(live, 'node.key'), ca: join(live, 'ca.crt') };
  const install = (p: DevPki): void => {
    copyFileSync(p.nodes['n1']!.cert, files.cert);
    copyFileSync(p.nodes['n1']!.key, files.key);
    copyFileSync(p.ca, files.ca);
  };
  install(pki);
  const node = await tlsNode({ tlsCert: files.cert, tlsKey: files.key, tlsCa: files.ca });
  const before = createClient({ nodes: [node.address], tls: { ca: pem(pki.ca) }, retries: 0 });
  await before.put('k', 'v');
  try {
    install(rogue); // the "new" CA and certificate
    assert.is(node.reloadTls(), true);
    const after = createClient({ nodes: [node.address], tls: { ca: pem(rogue.ca) }, retries: 0, connectTimeoutMs: 2000 });
    assert.equal((await after.get('k'))!.values.map(String), ['v'], 'a new connection is served with the new certificate');
    const stale = createClient({ nodes: [node.address], tls: { ca: pem(pki.ca) }, retries: 0, connectTimeoutMs: 2000 });
    assert.is(await codeOf(stale.ping()), 'KV_AUTH', 'a client that trusts only the old CA is refused on a new connection');
    await stale.close();
    await before.ping(); // the connection opened before the rotation keeps its session

    writeFileSync(files.key, 'not a key');
    try {
      node.reloadTls();
      assert.unreachable('unusable files must be refused');
    } catch (e) {
      assert.is((e as { code?: string }).code, 'KV_BAD_ARGUMENT');
    }
    const still = createClient({ nodes: [node.address], tls: { ca: pem(rogue.ca) }, retries: 0, connectTimeoutMs: 2000 });
    await still.ping(); // the last good material stays in use
    await Promise.all([after.close(), still.close()]);
  } finally {
    await before.close();
  }
  const plain = await startTestNode();
  started.push(plain);
  assert.is(plain.reloadTls(), false, 'nothing to reload without TLS');
});

test.run();
