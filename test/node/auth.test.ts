/**
 * Client authentication end to end (issue #9 items 1 and 6): a node with
 * `auth` on, users added to its data directory, real sockets on loopback.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient, ClientError } from '../../src/client/index.js';
import { addUser, listUsers, removeUser } from '../../src/auth/users.js';
import { Secret } from '../../src/auth/secret.js';
import { ScramInitiator } from '../../src/auth/initiator.js';
import * as E from 'fp-ts/lib/Either.js';
import { RawConn, startTestNode, type TestNode } from '../helpers/node.js';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rejectsWithCode } from '../helpers/assert.js';

let node: TestNode;
// Few PBKDF2 rounds keep the test fast; the exchange is the same at any count.
const ITER = 64;

test.before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-auth-'));
  addUser(dir, 'reader', 'read', new Secret('reader-pass'), ITER);
  addUser(dir, 'writer', 'readwrite', new Secret('writer-pass'), ITER);
  addUser(dir, 'boss', 'admin', new Secret('boss-pass'), ITER);
  node = await startTestNode({ auth: true, limits: { handshakeTimeoutMs: 2000 } }, dir);
});
test.after(async () => {
  await node.destroy();
});

const expectCode = (p: Promise<unknown>, code: string): Promise<ClientError> => rejectsWithCode(p, code, ClientError);

const hello = (mechanism = '', payload: Uint8Array = new Uint8Array(0)) =>
  ({ op: 'HELLO', streamId: 0, minVersion: 1, maxVersion: 1, role: 'client', clientName: 't', nodeId: '', authMechanism: mechanism, authPayload: payload }) as const;

test('the users file holds verifiers only, mode 0600, never a password', () => {
  const text = readFileSync(join(node.dir, 'users.json'), 'utf8');
  assert.not.match(text, /reader-pass|writer-pass|boss-pass/);
  assert.is(statSync(join(node.dir, 'users.json')).mode & 0o777, 0o600);
  assert.equal(listUsers(node.dir).map((u) => `${u.user}:${u.role}`), ['boss:admin', 'reader:read', 'writer:readwrite']);
});

test('a client without credentials gets KV_AUTH and the connection is closed', async () => {
  const raw = await RawConn.open(node.port);
  raw.send(hello());
  const m = await raw.next();
  assert.is(m.op, 'ERROR');
  assert.is(m.op === 'ERROR' && m.code, 'KV_AUTH');
  assert.ok(await raw.waitClosed());
  const c = createClient({ nodes: [node.address], retries: 0 });
  try {
    await expectCode(c.get('k'), 'KV_AUTH');
  } finally {
    await c.close();
  }
});

test('a request before HELLO, or in the middle of the exchange, is KV_AUTH and close', async () => {
  const raw = await RawConn.open(node.port);
  raw.send({ op: 'GET', streamId: 1, key: Buffer.from('k'), r: 0, timeoutMs: 0 });
  const m = await raw.next();
  assert.is(m.op === 'ERROR' && m.code, 'KV_AUTH');
  assert.ok(await raw.waitClosed());

  const raw2 = await RawConn.open(node.port);
  const scram = new ScramInitiator({ user: 'writer', password: new Secret('writer-pass') });
  raw2.send(hello(scram.mechanism, scram.helloPayload));
  assert.is((await raw2.next()).op, 'AUTH_REPLY');
  raw2.send({ op: 'PUT', streamId: 1, key: Buffer.from('k'), value: Buffer.from('v'), context: new Uint8Array(0), w: 0, timeoutMs: 0 });
  const m2 = await raw2.next();
  assert.is(m2.op === 'ERROR' && m2.code, 'KV_AUTH');
  assert.ok(await raw2.waitClosed());
});

test('a wrong password and an unknown user both get KV_AUTH with the same words', async () => {
  const wrong = createClient({ nodes: [node.address], user: 'writer', password: 'nope', retries: 0 });
  const nobody = createClient({ nodes: [node.address], user: 'ghost', password: 'writer-pass', retries: 0 });
  try {
    const a = await expectCode(wrong.put('k', 'v'), 'KV_AUTH');
    const b = await expectCode(nobody.put('k', 'v'), 'KV_AUTH');
    assert.match(a.message, /authentication failed/);
    assert.is(a.message, b.message);
  } finally {
    await wrong.close();
    await nobody.close();
  }
});

test('a wrong proof on a raw connection: ERROR KV_AUTH, then close', async () => {
  const raw = await RawConn.open(node.port);
  const scram = new ScramInitiator({ user: 'writer', password: new Secret('not-it') });
  raw.send(hello(scram.mechanism, scram.helloPayload));
  const challenge = await raw.next();
  assert.is(challenge.op, 'AUTH_REPLY');
  if (challenge.op !== 'AUTH_REPLY') return;
  const answer = scram.onReply(challenge.payload);
  assert.ok(E.isRight(answer) && answer.right !== undefined);
  if (E.isRight(answer) && answer.right !== undefined) raw.send({ op: 'AUTH', streamId: 0, payload: answer.right });
  const m = await raw.next();
  assert.is(m.op === 'ERROR' && m.code, 'KV_AUTH');
  assert.ok(await raw.waitClosed());
});

test('a read user reads but cannot write (KV_FORBIDDEN, the connection stays usable)', async () => {
  const writer = createClient({ nodes: [node.address], user: 'writer', password: 'writer-pass' });
  const reader = createClient({ nodes: [node.address], user: 'reader', password: new Secret('reader-pass') });
  try {
    await writer.put('shared', 'from-writer');
    assert.equal((await reader.get('shared'))!.values.map(String), ['from-writer']);
    await expectCode(reader.put('shared', 'from-reader'), 'KV_FORBIDDEN');
    await expectCode(reader.delete('shared'), 'KV_FORBIDDEN');
    assert.equal((await reader.get('shared'))!.values.map(String), ['from-writer'], 'nothing was written, and the reader is still connected');
    await reader.ping();
    await reader.stats();
  } finally {
    await writer.close();
    await reader.close();
  }
});

test('an admin may do everything a writer may', async () => {
  const boss = createClient({ nodes: [node.address], user: 'boss', password: 'boss-pass' });
  try {
    await boss.put('b', '1');
    assert.equal((await boss.get('b'))!.values.map(String), ['1']);
  } finally {
    await boss.close();
  }
});

test('users added or removed on the running node take effect at the next login', async () => {
  const late = () => createClient({ nodes: [node.address], user: 'late', password: 'late-pass', retries: 0 });
  let c = late();
  await expectCode(c.get('x'), 'KV_AUTH');
  await c.close();
  addUser(node.dir, 'late', 'read', new Secret('late-pass'), ITER);
  c = late();
  assert.is(await c.get('x'), undefined);
  await c.close();
  assert.ok(removeUser(node.dir, 'late'));
  c = late();
  await expectCode(c.get('x'), 'KV_AUTH');
  await c.close();
});

test('a node without auth refuses a client that offers SCRAM (behaves as before #9)', async () => {
  const plain = await startTestNode();
  const c = createClient({ nodes: [plain.address], user: 'writer', password: 'writer-pass', retries: 0 });
  try {
    await expectCode(c.get('k'), 'KV_AUTH');
    const anon = createClient({ nodes: [plain.address] });
    await anon.put('k', 'v');
    await anon.close();
  } finally {
    await c.close();
    await plain.destroy();
  }
});

test('STATS shows no secret and counts auth failures', async () => {
  const boss = createClient({ nodes: [node.address], user: 'boss', password: 'boss-pass' });
  try {
    const stats = await boss.stats();
    const names = Object.keys(stats).join(' ');
    assert.not.match(names, /pass|secret/i);
    assert.ok((stats['errors.KV_AUTH'] ?? 0) > 0, names);
    assert.is(stats['gauges.authClients'], 1);
    assert.is(stats['gauges.authNodes'], 0);
    assert.is(stats['gauges.authUsers'], 3);
  } finally {
    await boss.close();
  }
});

test.run();
