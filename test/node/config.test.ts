import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as E from 'fp-ts/lib/Either.js';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeConfig, defaultConfig, envName } from '../../src/node/config.js';

const ok = (r: ReturnType<typeof decodeConfig>) => {
  if (E.isLeft(r)) throw r.left;
  return r.right;
};

test('no sources gives the defaults', () => {
  assert.equal(ok(decodeConfig({})), defaultConfig);
});

test('flags beat environment, environment beats the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-config-'));
  try {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ port: 7000, host: '127.0.0.2', durability: 'always', limits: { maxKeyBytes: 100 } }));
    const c = ok(decodeConfig({ file, env: { RINGKV_PORT: '7100', RINGKV_MAX_KEY_BYTES: '200' }, flags: { port: '7200' } }));
    assert.is(c.port, 7200);
    assert.is(c.host, '127.0.0.2');
    assert.is(c.durability, 'always');
    assert.is(c.limits.maxKeyBytes, 200);
    assert.is(c.limits.maxFrameBytes, defaultConfig.limits.maxFrameBytes);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('numbers from strings are checked for range and form', () => {
  const bad = decodeConfig({ flags: { port: '70000' } });
  assert.ok(E.isLeft(bad));
  if (E.isLeft(bad)) {
    assert.is(bad.left.code, 'KV_BAD_ARGUMENT');
    assert.match(bad.left.message, /port/);
  }
  assert.ok(E.isLeft(decodeConfig({ flags: { port: '12ab' } })));
  assert.ok(E.isLeft(decodeConfig({ flags: { durability: 'sometimes' } })));
  assert.ok(E.isLeft(decodeConfig({ flags: { maxFrameBytes: '1' } })));
});

test('r and w may not exceed n', () => {
  const r = decodeConfig({ flags: { n: '2', r: '3' } });
  assert.ok(E.isLeft(r));
});

test('join list from a comma-separated flag or env', () => {
  assert.equal(ok(decodeConfig({ flags: { join: '127.0.0.1:1,127.0.0.1:2' } })).join, ['127.0.0.1:1', '127.0.0.1:2']);
  assert.equal(ok(decodeConfig({ env: { RINGKV_JOIN: '127.0.0.1:3' } })).join, ['127.0.0.1:3']);
});

test('a broken config file is a coded error, not a crash', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-config-'));
  try {
    const file = join(dir, 'c.json');
    writeFileSync(file, '{ not json');
    const r = decodeConfig({ file });
    assert.ok(E.isLeft(r) && r.left.code === 'KV_BAD_ARGUMENT');
    assert.ok(E.isLeft(decodeConfig({ file: join(dir, 'missing.json') })));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('env names are upper snake case', () => {
  assert.is(envName('maxFrameBytes'), 'RINGKV_MAX_FRAME_BYTES');
  assert.is(envName('port'), 'RINGKV_PORT');
});

test('TLS settings: files from flags or RINGKV_TLS_*; a cert needs its key, client auth needs a CA', () => {
  const c = ok(decodeConfig({ env: { RINGKV_TLS_CERT: '/e/n.crt', RINGKV_TLS_KEY: '/e/n.key' }, flags: { tlsCa: '/f/ca.crt', tlsClientAuth: 'require' } }));
  assert.is(c.tlsCert, '/e/n.crt');
  assert.is(c.tlsKey, '/e/n.key');
  assert.is(c.tlsCa, '/f/ca.crt');
  assert.is(c.tlsClientAuth, 'require');
  for (const flags of [{ tlsCert: '/n.crt' }, { tlsCa: '/ca.crt' }, { tlsCert: '/n.crt', tlsKey: '/n.key', tlsClientAuth: 'require' }, { tlsClientAuth: 'maybe' }]) {
    const bad = decodeConfig({ flags });
    assert.ok(E.isLeft(bad), JSON.stringify(flags));
    if (E.isLeft(bad)) assert.is(bad.left.code, 'KV_BAD_ARGUMENT');
  }
  assert.is(ok(decodeConfig({ env: { RINGKV_MAX_CONNECTIONS_PER_ADDRESS: '3' } })).limits.maxConnectionsPerAddress, 3);
});

test.run();
