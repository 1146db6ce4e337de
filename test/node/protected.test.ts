/**
 * Protected defaults and secret handling (issue #9 item 4), and the
 * `ringkv user` commands.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import * as E from 'fp-ts/lib/Either.js';
import { decodeConfig, defaultConfig, isLoopback, unsafeReason, type NodeConfig } from '../../src/node/config.js';
import { Secret } from '../../src/auth/secret.js';
import { runCli } from '../helpers/cli.js';

const root = new URL('../..', import.meta.url).pathname;
const cli = runCli;

const cfg = (over: Partial<NodeConfig>): NodeConfig => ({ ...defaultConfig, ...over });
const secret = new Secret('0123456789abcdef0123456789abcdef');

test('loopback addresses are recognised; everything else is exposed', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.ok(isLoopback(h), h);
  for (const h of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.1', 'example.com']) assert.not.ok(isLoopback(h), h);
});

test('a non-loopback bind needs auth (and the cluster secret in a cluster) unless --insecure', () => {
  assert.is(unsafeReason(cfg({})), null, 'the default binds 127.0.0.1');
  assert.match(unsafeReason(cfg({ host: '0.0.0.0' })) ?? '', /refusing to listen on 0\.0\.0\.0 without client authentication/);
  assert.is(unsafeReason(cfg({ host: '0.0.0.0', auth: true })), null);
  assert.match(unsafeReason(cfg({ host: '0.0.0.0', auth: true, cluster: true })) ?? '', /cluster secret/);
  assert.is(unsafeReason(cfg({ host: '0.0.0.0', auth: true, cluster: true, clusterSecret: secret })), null);
  assert.is(unsafeReason(cfg({ host: '0.0.0.0', insecure: true })), null);
  // Auth without the secret in a cluster is refused even on loopback: "I am a node" would skip the login.
  assert.match(unsafeReason(cfg({ auth: true, cluster: true })) ?? '', /skip the login/);
});

test('the cluster secret comes from env or a file, is redacted in every dump, and a refusal never echoes it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-sec-'));
  try {
    const env = { RINGKV_CLUSTER_SECRET: 'env-secret-0123456789-abcdef' };
    const c = decodeConfig({ env });
    assert.ok(E.isRight(c));
    if (E.isRight(c)) {
      assert.is(c.right.clusterSecret?.reveal().toString(), env.RINGKV_CLUSTER_SECRET);
      assert.not.match(JSON.stringify(c.right), /env-secret/);
      assert.not.match(inspect(c.right, { depth: 5 }), /env-secret/);
      assert.not.match(`${c.right.clusterSecret}`, /env-secret/);
    }
    const file = join(dir, 'secret');
    writeFileSync(file, 'file-secret-0123456789-abcdef\n', { mode: 0o600 });
    const f = decodeConfig({ flags: { clusterSecretFile: file } });
    assert.is(E.isRight(f) && f.right.clusterSecret?.reveal().toString(), 'file-secret-0123456789-abcdef', 'one trailing newline is dropped');
    const short = decodeConfig({ env: { RINGKV_CLUSTER_SECRET: 'tiny-pw' } });
    assert.ok(E.isLeft(short));
    if (E.isLeft(short)) assert.not.match(short.left.message, /tiny-pw/);
    const both = decodeConfig({ env, flags: { clusterSecretFile: file } });
    assert.ok(E.isLeft(both));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ringkv user add/list/remove edit the data directory; the password never appears in output or file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-users-'));
  try {
    const add = await cli(['user', 'add', 'app', '--role', 'readwrite', '--data', dir, '--iterations', '64'], { RINGKV_PASSWORD: 'pw-from-env-123' });
    assert.is(add.code, 0, add.stderr);
    const add2 = await cli(['user', 'add', 'ro', '--role', 'read', '--data', dir, '--iterations', '64'], {}, 'pw-from-stdin-456\n');
    assert.is(add2.code, 0, add2.stderr);
    const bad = await cli(['user', 'add', 'x', '--role', 'root', '--data', dir], { RINGKV_PASSWORD: 'p' });
    assert.is(bad.code, 2);
    const list = await cli(['user', 'list', '--data', dir, '--json']);
    assert.equal(JSON.parse(list.stdout), [{ user: 'app', role: 'readwrite', iterations: 64 }, { user: 'ro', role: 'read', iterations: 64 }]);
    const file = readFileSync(join(dir, 'users.json'), 'utf8');
    for (const out of [add.stdout, add.stderr, add2.stdout, list.stdout, file]) assert.not.match(out, /pw-from/);
    assert.is((await cli(['user', 'remove', 'ro', '--data', dir])).code, 0);
    assert.is((await cli(['user', 'remove', 'ro', '--data', dir])).code, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ringkv start on 0.0.0.0 without auth refuses, says why, exits 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-exposed-'));
  try {
    const r = await cli(['start', '--host', '0.0.0.0', '--port', '0', '--backend', 'memory', '--data', dir]);
    assert.is(r.code, 2);
    assert.match(r.stderr, /refusing to listen on 0\.0\.0\.0/);
    assert.match(r.stderr, /--insecure/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
