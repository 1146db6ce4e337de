/**
 * TLS options of the SDK and of a node's links to its peers (issue #9).
 * PEM contents, not paths: the SDK never reads files on its own.
 */
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';

type Pem = string | Buffer | readonly (string | Buffer)[];

export interface ClientTlsOptions {
  /** CA certificate(s) that sign the nodes' certificates. Default: the system's root CAs. */
  readonly ca?: Pem;
  /** A client certificate and its key, for nodes started with `--tls-client-auth require`. */
  readonly cert?: Pem;
  readonly key?: Pem;
  /**
   * The name the node's certificate must carry. Default: the host of the
   * address (an IP address is then checked against the certificate's IP SANs).
   */
  readonly servername?: string;
}

const pem = (p: Pem): string | Buffer | (string | Buffer)[] => (typeof p === 'string' || Buffer.isBuffer(p) ? p : [...p]);

/** node:tls connect options for one address; the certificate is always verified. */
export const tlsConnectOptions = (host: string, port: number, o: ClientTlsOptions): TlsConnectionOptions => ({
  host,
  port,
  rejectUnauthorized: true,
  ...(o.ca !== undefined ? { ca: pem(o.ca) } : {}),
  ...(o.cert !== undefined ? { cert: pem(o.cert) } : {}),
  ...(o.key !== undefined ? { key: pem(o.key) } : {}),
  // Node refuses an IP address as SNI; without servername it checks the host (IP SANs included).
  ...(o.servername !== undefined ? { servername: o.servername } : {}),
});

/** OpenSSL's and Node's codes for a certificate one side would not accept: retrying will not help. */
const CERT_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
]);

/** True when a socket error means a certificate was refused (by either side). */
export const isCertificateError = (e: unknown): boolean => {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && CERT_ERRORS.has(code);
};

/** What to do about a refused certificate, in words (OpenSSL's own message is kept after it). */
export const describeTlsError = (e: Error & { code?: string }): string => {
  switch (e.code) {
    case 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED':
      return `the node requires a client certificate (tls.cert/tls.key; CLI --tls-cert/--tls-key) (${e.code})`;
    case 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE':
    case 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA':
      return `the node refused our client certificate: not signed by its CA (${e.code})`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `the node's certificate is not for this name or address (${e.message})`;
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return `the node's certificate is outside its validity period (${e.code})`;
    default:
      return `the node's certificate is not trusted: pass the CA that signed it (tls.ca; CLI --tls-ca) (${e.code ?? e.message})`;
  }
};
