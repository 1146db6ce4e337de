/** The client SDK's public entry. */
export { Client, createClient } from './client.js';
export type { ClientOptions, GetOptions, GetResult, PutOptions, RequestOptions, Resolver, Sibling, UpdateOptions, WriteResult, Bytes } from './client.js';
export { ClientError } from './errors.js';
export { exponentialBackoff } from './backoff.js';
export type { ClientTlsOptions } from './tls.js';
export type { BackoffOptions, BackoffPolicy } from './backoff.js';
