import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import xxhash from 'xxhash-addon';
import { addon, crc32c, hash64, hashBatch, hashHi32, hashInto, partitionOf } from '../../src/native/addon.js';
import { check } from '../helpers/seed.js';

const { XXHash3 } = xxhash;
const reference = (key: Buffer): bigint => Buffer.from(XXHash3.hash(key)).readBigUInt64BE(0);

test('hash64 equals xxhash-addon XXHash3 (64-bit) on random keys', () => {
  check(
    fc.property(fc.uint8Array({ maxLength: 300 }), (k) => {
      const key = Buffer.from(k);
      assert.is(hash64(key), reference(key));
    }),
    300,
  );
});

test('hashHi32 and partitionOf are the top bits of the 64-bit hash', () => {
  check(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 32 }), (k, bits) => {
      const h = hash64(k);
      assert.is(hashHi32(k), Number(h >> 32n));
      assert.is(partitionOf(k, bits), Number(h >> BigInt(64 - bits)));
    }),
  );
});

test('hashBatch matches hashing each key alone', () => {
  check(
    fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 50 }), (keys) => {
      const offsets = new Uint32Array(keys.length + 1);
      keys.forEach((k, i) => (offsets[i + 1] = offsets[i]! + k.length));
      const out = hashBatch(Buffer.concat(keys), offsets);
      keys.forEach((k, i) => assert.is(out.readBigUInt64LE(i * 8), hash64(k)));
    }),
  );
});

test('hashInto writes at the offset and nowhere else', () => {
  const out = Buffer.alloc(24, 0xee);
  hashInto(Buffer.from('key'), out, 8);
  assert.is(out.readBigUInt64LE(8), hash64(Buffer.from('key')));
  assert.ok(out.subarray(0, 8).every((b) => b === 0xee));
  assert.ok(out.subarray(16).every((b) => b === 0xee));
});

test('crc32c matches the published check value and the portable table', () => {
  // CRC-32C of "123456789" is 0xE3069283 (RFC 3720, appendix B.4).
  assert.is(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.is(crc32c(Buffer.alloc(32, 0)), 0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
  check(
    fc.property(fc.uint8Array({ maxLength: 1000 }), fc.nat({ max: 0xffffffff }), (d, init) => {
      assert.is(crc32c(d, init), addon.crc32cPortable(d, init));
    }),
  );
});

test('crc32c extends: crc(a ++ b) = crc(b, crc(a))', () => {
  check(
    fc.property(fc.uint8Array(), fc.uint8Array(), (a, b) => {
      assert.is(crc32c(Buffer.concat([a, b])), crc32c(b, crc32c(a)));
    }),
  );
});

test('wrong arguments throw TypeError, in TypeScript and in the addon itself', () => {
  assert.throws(() => hashHi32('x' as unknown as Uint8Array), TypeError);
  assert.throws(() => addon.hashHi32('x' as unknown as Uint8Array), TypeError);
  assert.throws(() => addon.hashHi32(undefined as unknown as Uint8Array), TypeError);
  assert.throws(() => addon.crc32c({} as unknown as Uint8Array), TypeError);
  assert.throws(() => addon.hashBatch(Buffer.alloc(1), new Uint32Array([0, 5]), Buffer.alloc(8)), RangeError);
  assert.throws(() => addon.hashInto(Buffer.alloc(1), Buffer.alloc(4), 0), RangeError);
  assert.throws(() => partitionOf(Buffer.alloc(1), 0), TypeError);
});

test.run();
