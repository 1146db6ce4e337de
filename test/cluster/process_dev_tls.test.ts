/**
 * `ringkv dev --tls` (issue #9): certificates made with openssl, a 2-node
 * cluster on TLS (clients and node-to-node), the printed CLI line works, a
 * plaintext client gets no service; without openssl on PATH it fails with a
 * message that says so.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, ClientError } from '../../src/client/index.js';
import { freeBasePort, startDev, waitFor } from '../helpers/cluster.js';

const root = new URL('../..', import.meta.url).pathname;
const cli = join(root, 'src/cli/main.ts');

test('ringkv dev --tls --tls-client-auth require: a mutual-TLS cluster the printed command reaches; no certificate, no service', async () => {
  const base = await freeBasePort(2);
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-devtls-'));
  const dev = startDev(['--tls', '--tls-client-auth', 'require', '--nodes', '2', '--base-port', String(base), '--data', dir, '--backend', 'memory']);
  const addrs = [0, 1].map((i) => `127.0.0.1:${base + i}`);
  try {
    assert.ok(await waitFor(() => dev.out.includes('Ctrl-C stops the cluster.'), 45_000, 100), `dev did not report ready:\n${dev.out}`);
    const ca = join(dir, 'tls', 'ca.crt');
    const [cert, key] = [join(dir, 'tls', 'client.crt'), join(dir, 'tls', 'client.key')];
    assert.ok(existsSync(ca));
    assert.ok(dev.out.includes(`--tls-ca ${ca} --tls-cert ${cert} --tls-key ${key}`), `the output says how to connect:\n${dev.out}`);
    assert.match(dev.out, 'openssl');

    // The CLI line dev printed, run as printed.
    const put = spawnSync(process.execPath, ['--import', 'tsx', cli, 'put', 'tls-key', 'tls-value', '--nodes', addrs.join(','), '--tls-ca', ca, '--tls-cert', cert, '--tls-key', key], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    assert.is(put.status, 0, `put: ${put.stdout}${put.stderr}`);

    const tls = { ca: readFileSync(ca), cert: readFileSync(cert), key: readFileSync(key) };
    // N=2 W=2: the write went over the mutual-TLS link between the nodes; read from each node.
    for (const a of addrs) {
      const one = createClient({ nodes: [a], tls });
      assert.equal((await one.get('tls-key'))!.values.map(String), ['tls-value']);
      await one.close();
    }
    for (const refused of [{}, { tls: { ca: readFileSync(ca) } }]) {
      const c = createClient({ nodes: [addrs[0]!], retries: 0, connectTimeoutMs: 2000, ...refused });
      try {
        await c.ping();
        assert.unreachable('a client without a certificate was served');
      } catch (e) {
        assert.instance(e, ClientError);
      } finally {
        await c.close();
      }
    }

    dev.child.kill('SIGINT');
    assert.is(await dev.exited, 0, `dev exit code\n${dev.out}`);
  } finally {
    await dev.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ringkv dev --tls without openssl on PATH fails with a message naming openssl', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-devtls-'));
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', cli, 'dev', '--tls', '--nodes', '1', '--data', dir], {
      cwd: root,
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, PATH: join(dir, 'empty-path') },
    });
    assert.is.not(r.status, 0);
    assert.match(r.stderr, /openssl/);
    assert.match(r.stderr, /not found/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
