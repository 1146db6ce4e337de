/**
 * The authentication handshake under fuzzed input (issue #9 item 6): HELLO
 * and AUTH frames from the §17 vectors, mutated (bit flips, truncation,
 * random payloads, swapped mechanisms), go through the same path a server
 * takes — decodeFrame, decodeMessage, acceptHello, AcceptorAuth — which must
 * never throw, must refuse with a known code, and must never authenticate
 * anyone who does not hold the password or the cluster secret. Then the same
 * kind of bytes over real sockets at a node with auth on.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { acceptHello, decodeFrame, decodeMessage, DEFAULT_LIMITS, fromHex, type Message } from '../../protocol/index.js';
import { AcceptorAuth, mechanismFor, type AcceptorSecurity } from '../../src/auth/acceptor.js';
import { clusterKey } from '../../src/auth/node_auth.js';
import { Secret } from '../../src/auth/secret.js';
import { UserStore, addUser, usersPath } from '../../src/auth/users.js';
import { isErrorCode } from '../../src/errors.js';
import { createClient } from '../../src/client/index.js';
import { check } from '../helpers/seed.js';
import { RawConn, startTestNode } from '../helpers/node.js';

const vectors = (JSON.parse(readFileSync(new URL('../../protocol/vectors/auth.json', import.meta.url), 'utf8')) as { vectors: { name: string; frame: string }[] }).vectors;
const seeds = vectors.map((v) => fromHex(v.frame));

const dir = mkdtempSync(join(tmpdir(), 'ringkv-authfuzz-'));
addUser(dir, 'user', 'admin', new Secret('pencil'), 16);
const security: AcceptorSecurity = { users: new UserStore(usersPath(dir)), clusterKey: clusterKey(new Secret('ringkv-example-cluster-secret')) };

const mutated = fc.oneof(
  // flip bytes of a seed frame
  fc.tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 })).map(([b, flips]) => {
    const c = Uint8Array.from(b);
    for (const [at, x] of flips) c[at % c.length] = c[at % c.length]! ^ x;
    return c;
  }),
  // truncate or extend
  fc.tuple(fc.constantFrom(...seeds), fc.nat(), fc.uint8Array({ maxLength: 16 })).map(([b, cut, tail]) => Uint8Array.from([...b.subarray(0, cut % (b.length + 1)), ...tail])),
  fc.uint8Array({ maxLength: 80 }),
);

/** Runs one frame through the acceptor's handshake path; the answer is a code or 'challenge' (never 'authenticated'). */
const accept = (bytes: Uint8Array, then: readonly Uint8Array[]): string => {
  const frame = decodeFrame(bytes);
  if (E.isLeft(frame)) return frame.left.code;
  const m = decodeMessage(frame.right);
  if (E.isLeft(m)) return m.left.code;
  const hello: Message = m.right;
  if (hello.op !== 'HELLO') return 'not-hello';
  const ok = acceptHello(hello, { nodeId: 'n1', limits: DEFAULT_LIMITS, ringVersion: 0n, mechanismFor: (r) => mechanismFor(security, r) });
  if (E.isLeft(ok)) return ok.left.code;
  const started = AcceptorAuth.start(security, hello);
  if (E.isLeft(started)) return started.left.code;
  for (const payload of then) {
    const step = started.right.auth.step(payload);
    if (E.isLeft(step)) return step.left.code;
    if (step.right.done) return 'authenticated';
  }
  return 'challenge';
};

test('fuzz: mutated HELLO frames and random AUTH payloads never throw and never authenticate', () => {
  const outcomes = new Map<string, number>();
  check(
    fc.property(mutated, fc.array(fc.uint8Array({ maxLength: 120 }), { maxLength: 2 }), (bytes, then) => {
      const out = accept(bytes, then);
      outcomes.set(out, (outcomes.get(out) ?? 0) + 1);
      assert.ok(out === 'challenge' || out === 'not-hello' || isErrorCode(out), out);
      assert.is.not(out, 'authenticated');
    }),
    6000,
  );
  // The mutations reach the refusals of every layer and the exchange itself.
  for (const k of ['KV_BAD_FRAME', 'KV_AUTH', 'challenge']) assert.ok((outcomes.get(k) ?? 0) > 0, `${k}: ${JSON.stringify([...outcomes])}`);
});

test('fuzz: a random SCRAM client-final (right nonce, random proof) never authenticates', () => {
  const hello = seeds[0]!;
  check(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (proof) => {
      const frame = decodeFrame(hello);
      const m = E.isRight(frame) ? decodeMessage(frame.right) : undefined;
      if (m === undefined || E.isLeft(m) || m.right.op !== 'HELLO') throw new Error('seed');
      const started = AcceptorAuth.start(security, m.right);
      if (E.isLeft(started)) throw started.left;
      const serverFirst = Buffer.from(started.right.payload).toString();
      const nonce = /r=([^,]+)/.exec(serverFirst)![1]!;
      const step = started.right.auth.step(Buffer.from(`c=biws,r=${nonce},p=${Buffer.from(proof).toString('base64')}`));
      assert.ok(E.isLeft(step) && step.left.code === 'KV_AUTH');
    }),
    300,
  );
});

test('fuzz over sockets: mutated handshakes at a node with auth on get ERROR or nothing, never HELLO_OK; the node keeps serving', async () => {
  const node = await startTestNode({ auth: true, limits: { handshakeTimeoutMs: 300 } }, mkdtempSync(join(tmpdir(), 'ringkv-authfuzz-node-')));
  addUser(node.dir, 'app', 'readwrite', new Secret('app-pass'), 16);
  try {
    const inputs = fc.sample(mutated, { numRuns: 60, seed: 9 });
    for (let i = 0; i < inputs.length; i += 10) {
      await Promise.all(
        inputs.slice(i, i + 10).map(async (bytes) => {
          const raw = await RawConn.open(node.port);
          try {
            raw.sendBytes(bytes);
            for (;;) {
              let m: Message;
              try {
                m = await raw.next();
              } catch {
                break; // closed (or the handshake timeout closed it)
              }
              assert.is.not(m.op, 'HELLO_OK', 'no unauthenticated HELLO_OK');
              if (m.op === 'ERROR') assert.ok(isErrorCode(m.code));
            }
          } finally {
            raw.close();
          }
        }),
      );
    }
    const c = createClient({ nodes: [node.address], user: 'app', password: 'app-pass' });
    try {
      await c.put('still', 'alive');
      assert.equal((await c.get('still'))!.values.map(String), ['alive']);
    } finally {
      await c.close();
    }
  } finally {
    await node.destroy();
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
