/**
 * TLS material for a node (issue #9): the PEM files named in the config,
 * read once at start. The same certificate serves the client port and is
 * presented on the node's outbound links to its peers, so a node certificate
 * must allow both server and client use (no extendedKeyUsage, or both
 * serverAuth and clientAuth).
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, createServer, type SecureContext, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { KvError } from '../errors.js';
import type { NodeConfig } from './config.js';

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Absent: the system's root CAs verify peers. */
  readonly ca: Buffer | undefined;
  readonly clientAuth: 'none' | 'require';
}

const readPem = (what: string, path: string): Buffer => {
  try {
    return readFileSync(path);
  } catch (e) {
    // The path is configuration, not a secret; the file's content never goes into a message.
    throw new KvError('KV_BAD_ARGUMENT', `cannot read the TLS ${what} file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
};

/** Reads the files; undefined when TLS is off. Throws KV_BAD_ARGUMENT for a missing file or a key that does not fit. */
export const loadTlsMaterial = (c: Pick<NodeConfig, 'tlsCert' | 'tlsKey' | 'tlsCa' | 'tlsClientAuth'>): TlsMaterial | undefined => {
  if (c.tlsCert === undefined || c.tlsKey === undefined) return undefined;
  const material: TlsMaterial = {
    cert: readPem('certificate', c.tlsCert),
    key: readPem('key', c.tlsKey),
    ca: c.tlsCa === undefined ? undefined : readPem('CA', c.tlsCa),
    clientAuth: c.tlsClientAuth,
  };
  // Fail at start, not at the first handshake.
  secureContextOf(material);
  return material;
};

export const secureContextOf = (m: TlsMaterial): SecureContext => {
  try {
    return createSecureContext({ cert: m.cert, key: m.key, ...(m.ca !== undefined ? { ca: m.ca } : {}) });
  } catch (e) {
    throw new KvError('KV_BAD_ARGUMENT', `TLS certificate, key or CA unusable: ${(e as Error).message}`, { cause: e });
  }
};

/**
 * A tls.Server that never listens: the node's plain TCP server accepts each
 * socket, applies its connection limits, then hands the socket over with
 * `emit('connection')`. The tls.Server then does the handshake, verifies a
 * client certificate (which a bare TLSSocket does not) and enforces the
 * handshake timeout.
 */
export const handshakeServer = (m: TlsMaterial, handshakeTimeoutMs: number, onSecure: (s: TLSSocket) => void): TlsServer =>
  createServer(
    {
      // tls.Server builds its context from these (it ignores a `secureContext` option).
      cert: m.cert,
      key: m.key,
      ...(m.ca !== undefined ? { ca: m.ca } : {}),
      requestCert: m.clientAuth === 'require',
      rejectUnauthorized: m.clientAuth === 'require',
      handshakeTimeout: handshakeTimeoutMs,
    },
    onSecure,
  );
