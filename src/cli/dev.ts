/**
 * `ringkv dev` (what `npm start` runs): a local cluster of separate node
 * processes on loopback, with their data under one directory. n1 starts with
 * `--cluster`, the others `--join` n1; N = min(3, nodes), R = W = min(2, N).
 * Ready when every node counts every member (its `cluster.members` STATS
 * figure). Ctrl-C (or SIGTERM) stops every node gracefully and waits for them.
 *
 * `--tls` (issue #9): a throwaway CA and one certificate per node are made
 * with the `openssl` binary into `<data>/tls/` (fresh on every run), and
 * every node serves TLS only, to clients and to its peers; with
 * `--tls-client-auth require` clients and peers must also show a certificate
 * of that CA (a client one is made too).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from 'node:net';
import { createClient, type ClientTlsOptions } from '../client/index.js';
import { generateDevPki, type DevPki } from './certs.js';

const waitForPort = (host: string, port: number, timeoutMs: number): Promise<boolean> =>
  new Promise((done) => {
    const deadline = Date.now() + timeoutMs;
    const attempt = () => {
      const s = connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        done(true);
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) done(false);
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });

/** Polls every node's STATS until each counts `count` members. */
const waitForMembers = async (addrs: readonly string[], count: number, timeoutMs: number, tls: ClientTlsOptions | undefined): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs;
  const clients = addrs.map((a) => createClient({ nodes: [a], timeoutMs: 1000, retries: 0, ...(tls !== undefined ? { tls } : {}) }));
  try {
    while (Date.now() < deadline) {
      const seen = await Promise.all(clients.map((c) => c.stats().then((s) => s['cluster.members'] ?? 0, () => 0)));
      if (seen.every((m) => m === count)) return true;
      await new Promise((r) => setTimeout(r, 200));
    }
    return false;
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
};

export const runDev = async (args: readonly string[]): Promise<number> => {
  const { values } = parseArgs({
    args: [...args],
    options: {
      nodes: { type: 'string', default: '3' },
      'base-port': { type: 'string', default: '7401' },
      data: { type: 'string', default: './ringkv-dev-data' },
      backend: { type: 'string' },
      durability: { type: 'string' },
      tls: { type: 'boolean' },
      'tls-client-auth': { type: 'string' },
    },
    strict: true,
  });
  const count = Number(values.nodes);
  const basePort = Number(values['base-port']);
  if (!Number.isInteger(count) || count < 1 || count > 16) throw new Error('--nodes must be 1..16');
  if (!Number.isInteger(basePort) || basePort < 1 || basePort + count > 65535) throw new Error('--base-port out of range');
  const dataDir = resolve(values.data);
  mkdirSync(dataDir, { recursive: true });
  const host = '127.0.0.1';
  let pki: DevPki | undefined;
  const mutual = values['tls-client-auth'] === 'require';
  if (values['tls-client-auth'] !== undefined && (values.tls !== true || (!mutual && values['tls-client-auth'] !== 'none'))) {
    throw new Error('--tls-client-auth takes none or require, with --tls');
  }
  if (values.tls === true) {
    // Throws a clear KV_UNSUPPORTED error when openssl is not installed.
    pki = generateDevPki(join(dataDir, 'tls'), Array.from({ length: count }, (_, i) => `n${i + 1}`));
  }
  const clientTls: ClientTlsOptions | undefined =
    pki === undefined ? undefined : { ca: readFileSync(pki.ca), ...(mutual ? { cert: readFileSync(pki.client.cert), key: readFileSync(pki.client.key) } : {}) };
  const cli = process.argv[1]!;
  const children: ChildProcess[] = [];
  let stopping = false;

  const stopAll = async (code: number): Promise<number> => {
    stopping = true;
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((done) => {
            if (c.exitCode !== null || c.signalCode !== null) return done();
            c.once('exit', () => done());
            c.kill('SIGTERM');
            setTimeout(() => c.kill('SIGKILL'), 10_000).unref();
          }),
      ),
    );
    return code;
  };

  const n = Math.min(3, count);
  const quorum = Math.min(2, n);
  for (let i = 0; i < count; i++) {
    const port = basePort + i;
    const nodeArgs = ['start', '--host', host, '--port', String(port), '--data', join(dataDir, `n${i + 1}`), '--node-id', `n${i + 1}`, '--quiet'];
    // One node alone runs standalone: a cluster node refuses clients until it has heard from a peer.
    if (count > 1) {
      nodeArgs.push('--n', String(n), '--r', String(quorum), '--w', String(quorum));
      nodeArgs.push(...(i === 0 ? ['--cluster'] : ['--join', `${host}:${basePort}`]));
    }
    if (values.backend) nodeArgs.push('--backend', values.backend);
    if (values.durability) nodeArgs.push('--durability', values.durability);
    if (pki !== undefined) {
      const own = pki.nodes[`n${i + 1}`]!;
      nodeArgs.push('--tls-cert', own.cert, '--tls-key', own.key, '--tls-ca', pki.ca, ...(mutual ? ['--tls-client-auth', 'require'] : []));
    }
    const child = spawn(process.execPath, [...process.execArgv, cli, ...nodeArgs], { stdio: ['ignore', 'inherit', 'inherit'] });
    children.push(child);
    child.on('exit', (code, signal) => {
      if (!stopping) console.error(`ringkv dev: node n${i + 1} (port ${port}) exited (${signal ?? code}); the others keep running`);
    });
  }

  const ready = await Promise.all(children.map((_, i) => waitForPort(host, basePort + i, 15_000)));
  if (ready.some((r) => !r)) {
    console.error('ringkv dev: some nodes did not start; stopping');
    return stopAll(3);
  }
  const addrs = children.map((_, i) => `${host}:${basePort + i}`);
  if (count > 1 && !(await waitForMembers(addrs, count, 30_000, clientTls))) {
    console.error(`ringkv dev: the nodes did not all see ${count} members within 30 s; stopping`);
    return stopAll(3);
  }
  console.log(`ringkv dev: ${count > 1 ? `${count} nodes up (N=${n} R=${quorum} W=${quorum})` : '1 standalone node up'}, data in ${dataDir}`);
  addrs.forEach((a, i) => console.log(`  n${i + 1}  ${a}`));
  const tlsFlag = pki === undefined ? '' : ` --tls-ca ${pki.ca}${mutual ? ` --tls-cert ${pki.client.cert} --tls-key ${pki.client.key}` : ''}`;
  if (pki !== undefined) {
    console.log(
      `TLS on (clients and node-to-node${mutual ? ', client certificates required' : ''}), certificates made with openssl in ${pki.dir} (throwaway CA, valid for 127.0.0.1 and localhost)`,
    );
  }
  console.log(`try:  npx ringkv put hello world --nodes ${addrs.join(',')}${tlsFlag}`);
  console.log(`      npx ringkv get hello --nodes ${addrs.join(',')}${tlsFlag}`);
  console.log(`      npx ringkv status --nodes ${addrs[0]}${tlsFlag}`);
  if (pki !== undefined) {
    const certs = mutual ? `, cert: readFileSync('${pki.client.cert}'), key: readFileSync('${pki.client.key}')` : '';
    console.log(`SDK:  createClient({ nodes: ['${addrs[0]}'], tls: { ca: readFileSync('${pki.ca}')${certs} } })`);
    if (!mutual) console.log(`      (a client certificate, for nodes with --tls-client-auth require: ${pki.client.cert} and ${pki.client.key})`);
  }
  console.log('Ctrl-C stops the cluster.');

  return new Promise<number>((done) => {
    const stop = () => {
      if (stopping) return;
      console.log('\nringkv dev: stopping nodes…');
      void stopAll(0).then(done);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
};
