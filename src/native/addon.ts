/**
 * The whole native surface, typed. Nothing else in ringkv loads the addon.
 * Arguments are validated here (TypeError before C++ sees them); the addon
 * re-checks types so that a direct call with garbage throws instead of
 * crashing.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../util/package_root.js';

export interface NativeAddon {
  hashHi32(key: Uint8Array): number;
  partitionOf(key: Uint8Array, qBits: number): number;
  hashInto(key: Uint8Array, out: Uint8Array, offset: number): void;
  hashBatch(keys: Uint8Array, offsets: Uint32Array, out: Uint8Array): number;
  crc32c(data: Uint8Array, init?: number): number;
  crc32cPortable(data: Uint8Array, init?: number): number;
  crc32cImpl(): string;
  // The log engine registers its own functions; see src/storage/log.ts.
  readonly [name: string]: unknown;
}

const load = (): NativeAddon => {
  const root = packageRoot();
  const candidates = [join(root, 'build', 'Release', 'ringkv.node'), join(root, 'build', 'Debug', 'ringkv.node')];
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) {
    throw new Error(`ringkv: native addon not built (looked in ${candidates.join(', ')}); run \`npm run build:native\``);
  }
  return createRequire(import.meta.url)(found) as NativeAddon;
};

export const addon: NativeAddon = load();

const bytes = (name: string, v: unknown): Uint8Array => {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array or Buffer`);
  return v;
};

/** Top 32 bits of xxh3-64(key): enough to pick a partition, no BigInt. */
export const hashHi32 = (key: Uint8Array): number => addon.hashHi32(bytes('key', key));

/** The partition of `key` in a ring of 2^qBits partitions. */
export const partitionOf = (key: Uint8Array, qBits: number): number => {
  if (!Number.isInteger(qBits) || qBits < 1 || qBits > 32) throw new TypeError('qBits must be an integer in 1..32');
  return addon.partitionOf(bytes('key', key), qBits);
};

/** Writes xxh3-64(key), little-endian, at out[offset..offset+8). */
export const hashInto = (key: Uint8Array, out: Uint8Array, offset = 0): void => {
  bytes('key', key);
  bytes('out', out);
  if (!Number.isInteger(offset) || offset < 0 || offset + 8 > out.length) throw new RangeError('offset out of range');
  addon.hashInto(key, out, offset);
};

const scratch = Buffer.alloc(8);

/** xxh3-64(key) as a bigint (allocates; prefer hashHi32/hashInto on hot paths). */
export const hash64 = (key: Uint8Array): bigint => {
  addon.hashInto(bytes('key', key), scratch, 0);
  return scratch.readBigUInt64LE(0);
};

/**
 * Hashes many keys in one native call. `keys` is their concatenation and
 * `offsets` holds n+1 boundaries; returns n little-endian u64 hashes.
 */
export const hashBatch = (keys: Uint8Array, offsets: Uint32Array, out?: Buffer): Buffer => {
  bytes('keys', keys);
  if (!(offsets instanceof Uint32Array)) throw new TypeError('offsets must be a Uint32Array');
  const n = Math.max(0, offsets.length - 1);
  const target = out ?? Buffer.allocUnsafe(n * 8);
  if (target.length < n * 8) throw new RangeError('out is too small');
  addon.hashBatch(keys, offsets, target);
  return target;
};

/** CRC32C (Castagnoli) of `data`, extending `init`. */
export const crc32c = (data: Uint8Array, init = 0): number => {
  if (!Number.isInteger(init) || init < 0 || init > 0xffffffff) throw new TypeError('init must be a u32');
  return addon.crc32c(bytes('data', data), init);
};
