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
