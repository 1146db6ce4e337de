/**
 * ringkv's public entry. Everything a user imports comes from here.
 */
export { KvError, ErrorCodes, isErrorCode, isKvError } from './errors.js';
export type { ErrorCode } from './errors.js';
export type {
  StorageBackend,
  PartitionStore,
  BackendCapabilities,
  BackendOptions,
  BackendFactory,
  BatchOp,
  Durability,
  FoldOptions,
  PartitionStats,
} from './storage/backend.js';

// The client SDK: `import { createClient } from 'ringkv'`.
export { Client, createClient, ClientError, exponentialBackoff } from './client/index.js';
export type {
  ClientOptions,
  GetOptions,
  GetResult,
  PutOptions,
  RequestOptions,
  Resolver,
  Sibling,
  UpdateOptions,
  WriteResult,
  Bytes,
  ClientTlsOptions,
  BackoffOptions,
  BackoffPolicy,
} from './client/index.js';
