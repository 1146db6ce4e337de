import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { clientFinal, clientFirst, makeVerifier, serverFinal, serverFirst, verifyServerFinal, type Verifier } from '../../src/auth/scram.js';
import { NodeInitiator } from '../../src/auth/initiator.js';
import { acceptorChallenge, clusterKey, initiatorResponse, verifyInitiator } from '../../src/auth/node_auth.js';
import { permits, requiredRole, ROLES } from '../../src/auth/roles.js';
import { Secret, constantTimeEqual } from '../../src/auth/secret.js';
import { inspect } from 'node:util';
import { check } from '../helpers/seed.js';

// RFC 7677 §3: user "user", password "pencil".
const rfc = {
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};
const pencil = Buffer.from('pencil');
const verifier = makeVerifier('user', 'readwrite', pencil, rfc.salt, 4096);
const decoy = () => ({ salt: Buffer.alloc(16, 7), iterations: 4096 });

test('SCRAM-SHA-256: the client reproduces the RFC 7677 exchange byte for byte', () => {
  const first = clientFirst('user', rfc.clientNonce);
  assert.is(first.message, 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
  const final = clientFinal(first, rfc.serverFirst, pencil);
  assert.ok(E.isRight(final));
  if (E.isRight(final)) {
    assert.is(final.right.message, rfc.clientFinal);
    assert.ok(verifyServerFinal(final.right, rfc.serverFinal));
    assert.not.ok(verifyServerFinal(final.right, 'v=' + Buffer.alloc(32).toString('base64')), 'a server without the verifier is not believed');
  }
});

test('SCRAM-SHA-256: the server reproduces the RFC 7677 exchange from the stored verifier alone', () => {
  const first = serverFirst('n,,n=user,r=' + rfc.clientNonce, rfc.serverNonce, (u) => (u === 'user' ? verifier : undefined), decoy);
  assert.ok(E.isRight(first));
  if (E.isLeft(first)) return;
  assert.is(first.right.message, rfc.serverFirst);
  const final = serverFinal(first.right.state, rfc.clientFinal);
  assert.equal(E.isRight(final) && final.right, { message: rfc.serverFinal, role: 'readwrite', user: 'user' });
});

test('SCRAM: a wrong password and an unknown user fail alike; a replayed proof fails against a new nonce', () => {
  const lookup = (u: string): Verifier | undefined => (u === 'user' ? verifier : undefined);
  const run = (user: string, password: string, serverNonce: string, replay?: string) => {
    const cf = clientFirst(user, rfc.clientNonce);
    const sf = serverFirst(cf.message, serverNonce, lookup, decoy);
    if (E.isLeft(sf)) return sf;
    const fin = clientFinal(cf, sf.right.message, Buffer.from(password));
    if (E.isLeft(fin)) return fin;
    return serverFinal(sf.right.state, replay ?? fin.right.message);
  };
  assert.equal(run('user', 'pen', rfc.serverNonce), E.left('authentication failed'));
  assert.equal(run('nobody', 'pencil', rfc.serverNonce), E.left('authentication failed'));
  assert.ok(E.isRight(run('user', 'pencil', rfc.serverNonce)));
  // The RFC's proof, replayed on a connection whose server nonce differs, names the wrong nonce.
  assert.ok(E.isLeft(run('user', 'pencil', 'another-server-nonce', rfc.clientFinal)));
});

test('SCRAM: the server refuses malformed first and final messages without throwing', () => {
  check(
    fc.property(fc.string({ maxLength: 80 }), fc.string({ maxLength: 80 }), (a, b) => {
      const sf = serverFirst(a, 'srvnonce1234', () => verifier, decoy);
      if (E.isRight(sf)) assert.ok(E.isLeft(serverFinal(sf.right.state, b)) || b.includes('p='));
    }),
    300,
  );
  assert.ok(E.isLeft(serverFirst('y,,n=user,r=abcdefgh', 's', () => verifier, decoy)));
  assert.ok(E.isLeft(serverFirst('n,,n=us,er,r=abcdefgh', 's', () => verifier, decoy)));
  assert.ok(E.isLeft(serverFirst('n,,n=user,r=short', 's', () => verifier, decoy)));
});

test('SCRAM: a client refuses a server-first that does not extend its nonce or asks for absurd iterations', () => {
  const first = clientFirst('user', rfc.clientNonce);
  assert.ok(E.isLeft(clientFinal(first, 'r=someoneelse1234,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096', pencil)));
  assert.ok(E.isLeft(clientFinal(first, `r=${rfc.clientNonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999`, pencil)));
});

test('node auth: both sides prove the secret; a wrong secret fails either way; proofs are not reflectable', () => {
  const k = clusterKey(new Secret('correct horse battery staple'));
  const wrong = clusterKey(new Secret('correct horse battery stapler'));
  const initiator = new NodeInitiator(k, 'n2');
  const nA = Buffer.alloc(32, 9);
  const challenge = acceptorChallenge(k, initiator.helloPayload, nA, 'n2')!;
  const answer = initiator.onReply(challenge);
  assert.ok(E.isRight(answer) && answer.right !== undefined);
  if (E.isRight(answer) && answer.right !== undefined) {
    assert.ok(verifyInitiator(k, initiator.helloPayload, nA, 'n2', answer.right));
    assert.not.ok(verifyInitiator(wrong, initiator.helloPayload, nA, 'n2', answer.right), 'an acceptor with another secret refuses');
    assert.not.ok(verifyInitiator(k, initiator.helloPayload, nA, 'n3', answer.right), 'the proof is bound to the claimed node id');
  }
  // An acceptor without the secret cannot produce a challenge the initiator believes.
  assert.ok(E.isLeft(new NodeInitiator(k, 'n2').onReply(acceptorChallenge(wrong, Buffer.alloc(32), nA, 'n2')!)));
  // The acceptor's proof sent back as the initiator's does not verify (different labels).
  assert.not.ok(verifyInitiator(k, initiator.helloPayload, nA, 'n2', challenge.subarray(32)));
  assert.is(initiatorResponse(k, initiator.helloPayload, Buffer.alloc(10), 'n2'), null);
});

test('roles: one table; writes need readwrite, unknown and admin-range opcodes need admin', () => {
  assert.ok(permits('read', 0x10));
  assert.not.ok(permits('read', 0x11));
  assert.not.ok(permits('read', 0x12));
  assert.ok(permits('readwrite', 0x11));
  for (let op = 0x30; op <= 0x3b; op++) {
    assert.is(requiredRole(op), 'admin');
    assert.not.ok(permits('readwrite', op));
    assert.ok(permits('admin', op));
  }
  for (const r of ROLES) assert.ok(permits(r, 0x03), `${r} may ping`);
});

test('secrets never print: String, JSON, inspect all redact', () => {
  const s = new Secret('hunter2-hunter2-hunter2');
  assert.is(`${s}`, '[secret]');
  assert.is(JSON.stringify({ s }), '{"s":"[secret]"}');
  assert.not.match(inspect({ s }), /hunter2/);
  assert.ok(constantTimeEqual(Buffer.from('ab'), Buffer.from('ab')));
  assert.not.ok(constantTimeEqual(Buffer.from('ab'), Buffer.from('abc')));
});

test.run();
