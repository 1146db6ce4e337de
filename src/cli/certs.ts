/**
 * Throwaway certificates for `ringkv dev --tls` and the TLS tests (issue #9),
 * made with the `openssl` binary (no dependency; the key material never
 * passes through this process's memory). A private CA signs one certificate
 * per node, valid for 127.0.0.1 and localhost and usable both as a server and
 * as a client certificate (nodes present it to each other), and one client
 * certificate for mutual TLS. For trying TLS locally, not for production:
 * the CA key sits unencrypted beside the certificates.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KvError } from '../errors.js';

export interface CertPair {
  readonly cert: string;
  readonly key: string;
}

export interface DevPki {
  readonly dir: string;
  /** The CA certificate (PEM path) clients and nodes trust. */
  readonly ca: string;
  readonly nodes: Readonly<Record<string, CertPair>>;
  readonly client: CertPair;
}

/** Throws a KV_UNSUPPORTED error saying what to install when `openssl` cannot be run. */
export const requireOpenssl = (): string => {
  const r = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) {
    throw new KvError(
      'KV_UNSUPPORTED',
      'generating TLS certificates needs the openssl command, which was not found on PATH ' +
        '(Debian/Ubuntu: apt-get install openssl); or start nodes yourself with --tls-cert/--tls-key/--tls-ca',
    );
  }
  return r.stdout.trim();
};

const openssl = (args: readonly string[]): void => {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const stderr = String((e as { stderr?: unknown }).stderr ?? '').trim();
    throw new KvError('KV_INTERNAL', `openssl ${args[0]} failed: ${stderr || (e as Error).message}`, { cause: e });
  }
};

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** One key and a certificate the CA signs, for `cn`, with these extensions. */
const issue = (dir: string, name: string, cn: string, extensions: string, days: number): CertPair => {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, extensions);
  openssl(['req', ...EC_KEY, '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`]);
  openssl(['x509', '-req', '-in', csr, '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-out', cert, '-days', String(days), '-extfile', ext]);
  chmodSync(key, 0o600);
  return { cert, key };
};

/**
 * Writes `ca.crt`/`ca.key`, `<node>.crt`/`<node>.key` for each name and
 * `client.crt`/`client.key` into `dir`.
 */
export const generateDevPki = (dir: string, nodeNames: readonly string[], days = 365): DevPki => {
  requireOpenssl();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  openssl(['req', '-x509', ...EC_KEY, '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'), '-days', String(days), '-subj', '/CN=ringkv dev CA (throwaway)', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  chmodSync(join(dir, 'ca.key'), 0o600);
  const nodes: Record<string, CertPair> = {};
  for (const name of nodeNames) {
    nodes[name] = issue(dir, name, name, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n', days);
  }
  const client = issue(dir, 'client', 'ringkv client', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n', days);
  return { dir, ca: join(dir, 'ca.crt'), nodes, client };
};
