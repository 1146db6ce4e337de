/**
 * Seeded randomness for benchmarks, so a run's key sequence and op mix are
 * reproducible from its seed. sfc32 (Chris Doty-Humphrey's small fast
 * counter): 128 bits of state, fast in pure JS, passes PractRand far beyond
 * what a bench draws.
 */

export interface Rng {
  /** A uniform double in [0, 1). */
  next(): number;
  /** A uniform integer in [0, n). */
  int(n: number): number;
}

export const createRng = (seed: number): Rng => {
  // The seed spreads over the state through splitmix32 so that nearby seeds give unrelated streams.
  let s = seed >>> 0;
  const mix = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = mix();
  let b = mix();
  let c = mix();
  let d = mix();
  const u32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) u32();
  // 53-bit doubles: two draws, so long-tailed distributions see every value they should.
  const next = (): number => ((u32() >>> 5) * 67108864 + (u32() >>> 6)) / 9007199254740992;
  return { next, int: (n) => Math.floor(next() * n) };
};

/**
 * 64-bit FNV-1a of a non-negative integer's 8 little-endian bytes, as YCSB's
 * `Utils.fnvhash64` scrambles zipfian ranks (and orders inserted keys), done
 * in two 32-bit halves to stay off BigInt in the hot path. Returns the hash
 * modulo `n` (n ≤ 2^26, so the reduction below stays exact in doubles).
 */
export const fnvHash64Mod = (value: number, n: number): number => {
  // FNV-1a 64: offset basis 0xcbf29ce484222325, prime 0x100000001b3.
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  let v = value;
  for (let i = 0; i < 8; i++) {
    const octet = v % 256;
    v = Math.floor(v / 256);
    lo = (lo ^ octet) >>> 0;
    // (hi:lo) * (0x100:0x000001b3) mod 2^64
    const loLo = (lo & 0xffff) * 0x1b3;
    const loHi = (lo >>> 16) * 0x1b3;
    const carryLo = loLo + (loHi & 0xffff) * 65536;
    const newLo = carryLo >>> 0;
    const carry = Math.floor(carryLo / 4294967296) + (loHi >>> 16);
    const newHi = (Math.imul(hi, 0x1b3) + ((lo << 8) >>> 0) + carry) >>> 0;
    hi = newHi;
    lo = newLo;
  }
  // (hi * 2^32 + lo) mod n without losing bits: reduce hi first.
  return ((hi % n) * (4294967296 % n) + (lo % n)) % n;
};
