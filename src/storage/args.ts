/**
 * Argument checks and small helpers the TypeScript backends (memory, lmdb)
 * share, so a bad argument gets the same KvError from every one of them.
 */
import { KvError } from '../errors.js';

export const closedError = (what: string): KvError => new KvError('KV_CLOSED', `${what} is closed`);

export const bytesArg = (name: string, v: unknown): Uint8Array => {
  if (!(v instanceof Uint8Array)) throw new KvError('KV_BAD_ARGUMENT', `${name} must be a Uint8Array or Buffer`);
  return v;
};

export const partitionArg = (partition: unknown): number => {
  if (typeof partition !== 'number' || !Number.isInteger(partition) || partition < 0 || partition > 0xffffffff) {
    throw new KvError('KV_BAD_ARGUMENT', `partition must be an integer in 0..2^32-1, got ${String(partition)}`);
  }
  return partition;
};

/** A Buffer over the same bytes (no copy). */
export const asBuffer = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

/** Resolves after the event loop had a turn (long folds yield with it). */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
