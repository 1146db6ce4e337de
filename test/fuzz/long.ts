/**
 * Protocol fuzzer: random bytes and structure-aware mutations of valid
 * frames (flipped bits, truncation, extension, rewritten length fields, huge
 * lengths, random bodies under valid headers, spliced streams), fed to
 * FrameDecoder in random splits and to decodeMessage. It checks that:
 *
 * - `push` never throws; `next` throws only KvError KV_BAD_FRAME / KV_TOO_LARGE;
 * - decodeMessage never throws and its Lefts are KvErrors with a known code;
 * - no frame exceeds maxFrameBytes, and the decoder never holds or reserves
 *   more than maxFrameBytes for an incomplete frame, nor more than
 *   max(64 KiB, 2 × the bytes it holds) (a refused length reserves nothing
 *   beyond the 12-byte header scratch);
 * - every message that decodes re-encodes to exactly the frame's bytes
 *   (the encoding is canonical).
 *
 *   npm run fuzz -- --inputs 5000000 [--seed 42]
 *
 * test/protocol/fuzz.test.ts runs the same harness with 100k inputs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import { isErrorCode, isKvError } from '../../src/errors.js';
import {
  DEFAULT_LIMITS,
  FrameDecoder,
  MIN_FRAME_BYTES,
  Opcode,
  decodeMessage,
  encode,
  fromHex,
  toHex,
  type Limits,
  type Message,
} from '../../protocol/index.js';
import type { VectorFile } from '../../protocol/gen_vectors.js';

export interface FuzzOptions {
  readonly inputs: number;
  readonly seed: number;
  /** Called every `progressEvery` inputs. */
  readonly onProgress?: (done: number, stats: FuzzStats) => void;
  readonly progressEvery?: number;
}

export interface FuzzStats {
  inputs: number;
  bytes: number;
  frames: number;
  messages: number;
  /** How inputs ended: frame-level refusals and message-level Lefts by code. */
  readonly outcomes: Record<string, number>;
}

/** A failed check, with what is needed to replay it. */
export class FuzzFailure extends Error {
  constructor(message: string, readonly seed: number, readonly inputIndex: number, readonly inputHex: string) {
    super(`${message} (seed ${seed}, input #${inputIndex}, ${inputHex.length / 2} bytes: ${inputHex.slice(0, 200)}${inputHex.length > 200 ? '…' : ''})`);
    this.name = 'FuzzFailure';
  }
}

/** mulberry32: small, fast, seedable; the fuzzer's only source of randomness. */
const prng = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

const vectorFrames = (): Uint8Array[] => {
  const dir = new URL('../../protocol/vectors/', import.meta.url);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== 'invalid.json')
    .flatMap((f) => (JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as VectorFile).vectors.map((v) => fromHex(v.frame)))
    .filter((b) => b.length <= 4096);
};

const OPCODES: readonly number[] = [...Object.values(Opcode), 0x00, 0x13, 0x30, 0x40, 0x7f, 0x80, 0xff];
const INTERESTING_U32: readonly number[] = [0, 1, 7, 8, 9, 0x7fffffff, 0x80000000, 0xfffffff0, 0xffffffff, 0xffff, 0x10000];
const DECODER_LIMITS: readonly number[] = [MIN_FRAME_BYTES, 64, 1024, 1024, 65536, 65536, 65536, 65536];

export const runFuzz = (options: FuzzOptions): FuzzStats => {
  const random = prng(options.seed);
  const int = (n: number): number => Math.floor(random() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const randomBytes = (n: number): Uint8Array => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b;
  };
  const corpus = vectorFrames();
  const stats: FuzzStats = { inputs: 0, bytes: 0, frames: 0, messages: 0, outcomes: {} };
  const count = (k: string): void => void (stats.outcomes[k] = (stats.outcomes[k] ?? 0) + 1);

  const setU32 = (b: Uint8Array, at: number, v: number): void => {
    if (at + 4 > b.length) return;
    b[at] = v >>> 24;
    b[at + 1] = v >>> 16;
    b[at + 2] = v >>> 8;
    b[at + 3] = v;
  };

  /** One mutated frame (or several, spliced). */
  const mutate = (): Uint8Array => {
    const base = new Uint8Array(pick(corpus));
    switch (int(9)) {
      case 0: {
        // Flip 1..4 bits anywhere.
        for (let n = 1 + int(4); n > 0; n--) base[int(base.length)]! ^= 1 << int(8);
        return base;
      }
      case 1:
        // Truncate (the length field now promises more than arrives).
        return base.subarray(0, int(base.length));
      case 2: {
        // Extend the body, with or without re-stating the length.
        const ext = new Uint8Array(base.length + 1 + int(16));
        ext.set(base, 0);
        ext.set(randomBytes(ext.length - base.length), base.length);
        if (random() < 0.5) setU32(ext, 0, ext.length - 4);
        return ext;
      }
      case 3:
        // Rewrite the length field: off by a little, interesting, or random.
        setU32(base, 0, random() < 0.4 ? (base.length - 4 + int(9) - 4) >>> 0 : random() < 0.5 ? pick(INTERESTING_U32) : int(2 ** 32));
        return base;
      case 4: {
        // Rewrite an inner length field (u16 or u32) somewhere in the body.
        const at = MIN_FRAME_BYTES + int(Math.max(1, base.length - MIN_FRAME_BYTES));
        if (random() < 0.5) setU32(base, at, pick(INTERESTING_U32));
        else if (at + 2 <= base.length) {
          const v = pick([0, 1, 0xff, 0x100, 0xfffe, 0xffff]);
          base[at] = v >>> 8;
          base[at + 1] = v;
        }
        return base;
      }
      case 5: {
        // A valid header with a random opcode/flags/stream and a random body.
        const body = randomBytes(int(random() < 0.8 ? 24 : 300));
        const b = new Uint8Array(MIN_FRAME_BYTES + body.length);
        setU32(b, 0, b.length - 4);
        b[4] = random() < 0.95 ? 1 : int(256);
        b[5] = pick(OPCODES);
        b[7] = random() < 0.9 ? int(2) : int(256);
        setU32(b, 8, random() < 0.3 ? 0 : int(2 ** 32));
        b.set(body, MIN_FRAME_BYTES);
        return b;
      }
      case 6: {
        // Set a byte to an interesting value.
        base[int(base.length)] = pick([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff]);
        return base;
      }
      case 7: {
        // Splice: several frames back to back, each maybe mutated.
        const parts: Uint8Array[] = [];
        for (let n = 2 + int(4); n > 0; n--) parts.push(random() < 0.7 ? pick(corpus) : mutateOnce());
        return Buffer.concat(parts);
      }
      default:
        // A header whose length says huge, then a few bytes.
        setU32(base, 0, pick([0xffffffff, 0x80000000, 0x00800000, 0x00800001, 0x01000000]));
        return base.subarray(0, int(base.length + 1));
    }
  };
  let depth = 0;
  const mutateOnce = (): Uint8Array => {
    if (depth > 0) return pick(corpus);
    depth++;
    try {
      return mutate();
    } finally {
      depth--;
    }
  };

  /** Random bytes; half of them behind a plausible prefix (right length, version 1) so they reach the body decoders. */
  const randomInput = (): Uint8Array => {
    const b = randomBytes(int(random() < 0.9 ? 40 : 400));
    if (b.length >= MIN_FRAME_BYTES && random() < 0.5) {
      setU32(b, 0, b.length - 4);
      b[4] = 1;
      b[6] = 0;
      b[7] = b[7]! & 1;
    }
    return b;
  };

  const limitsFor = (maxFrameBytes: number): Limits =>
    random() < 0.5 ? { ...DEFAULT_LIMITS, maxFrameBytes } : { ...DEFAULT_LIMITS, maxFrameBytes, maxKeyBytes: int(40), maxValueBytes: int(200) };

  const total = options.inputs;
  for (let index = 0; index < total; index++) {
    const input = random() < 0.2 ? randomInput() : mutateOnce();
    // Mostly small limits (cheap, and every length check fires); sometimes the default.
    const maxFrameBytes = random() < 0.02 ? DEFAULT_LIMITS.maxFrameBytes : pick(DECODER_LIMITS);
    const limits = limitsFor(maxFrameBytes);
    const fail = (what: string): never => {
      throw new FuzzFailure(what, options.seed, index, toHex(input));
    };
    stats.inputs++;
    stats.bytes += input.length;
    const decoder = new FrameDecoder({ maxFrameBytes });
    const splitMode = int(3); // whole, one byte at a time, random chunks
    let at = 0;
    let ended = false;
    while (at < input.length && !ended) {
      const n = splitMode === 0 ? input.length : splitMode === 1 ? 1 : 1 + int(24);
      const chunk = input.subarray(at, at + n);
      at += chunk.length;
      try {
        decoder.push(chunk);
      } catch (e) {
        fail(`push threw ${String(e)}`);
      }
      if (decoder.reservedBytes > maxFrameBytes) fail(`decoder reserved ${decoder.reservedBytes} > maxFrameBytes ${maxFrameBytes}`);
      if (decoder.bufferedBytes > maxFrameBytes) fail(`decoder buffered ${decoder.bufferedBytes} > maxFrameBytes ${maxFrameBytes}`);
      // An announced length is never reserved up front: the buffer tracks the bytes that arrived.
      if (decoder.reservedBytes > Math.max(64 * 1024, 2 * decoder.bufferedBytes)) {
        fail(`decoder reserved ${decoder.reservedBytes} for ${decoder.bufferedBytes} buffered bytes`);
      }
      for (;;) {
        let frame;
        try {
          frame = decoder.next();
        } catch (e) {
          if (!isKvError(e) || (e.code !== 'KV_BAD_FRAME' && e.code !== 'KV_TOO_LARGE')) fail(`next threw ${String(e)}`);
          else {
            count(`frame ${e.code}`);
            if (e.code === 'KV_TOO_LARGE' && decoder.reservedBytes > MIN_FRAME_BYTES) fail(`refused length yet reserved ${decoder.reservedBytes}`);
          }
          ended = true;
          break;
        }
        if (frame === undefined) break;
        stats.frames++;
        if (frame.bytes.length > maxFrameBytes) fail(`frame of ${frame.bytes.length} > maxFrameBytes ${maxFrameBytes}`);
        let r: E.Either<unknown, Message>;
        try {
          r = decodeMessage(frame, limits);
        } catch (e) {
          return fail(`decodeMessage threw ${String(e)}`);
        }
        if (E.isLeft(r)) {
          const e = r.left;
          if (!isKvError(e) || !isErrorCode(e.code) || e.code === 'KV_INTERNAL') fail(`decodeMessage gave ${String(e)}`);
          count(`message ${(e as { code: string }).code}`);
          continue;
        }
        stats.messages++;
        count(`ok ${r.right.op}`);
        let again: Uint8Array;
        try {
          again = encode(r.right, frame.version);
        } catch (e) {
          return fail(`re-encoding a decoded ${r.right.op} threw ${String(e)}`);
        }
        // NaN payload bits are the one thing a float round trip may canonicalise.
        if (toHex(again) !== toHex(frame.bytes) && r.right.op !== 'STATS_REPLY') fail(`${r.right.op} re-encodes differently`);
      }
    }
    if (options.onProgress !== undefined && (index + 1) % (options.progressEvery ?? 100_000) === 0) options.onProgress(index + 1, stats);
  }
  return stats;
};

const argument = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const inputs = Number(argument('inputs') ?? 1_000_000);
  const seed = Number(argument('seed') ?? process.env.RINGKV_SEED ?? Math.floor(Math.random() * 2 ** 31));
  if (!Number.isInteger(inputs) || inputs < 1 || !Number.isInteger(seed)) {
    console.error('usage: npm run fuzz -- --inputs N [--seed S]');
    process.exit(2);
  }
  console.log(`protocol fuzz: ${inputs} inputs, seed ${seed}`);
  const started = Date.now();
  try {
    const stats = runFuzz({
      inputs,
      seed,
      progressEvery: Math.max(10_000, Math.floor(inputs / 20)),
      onProgress: (done, s) => console.log(`  ${done}/${inputs} inputs, ${s.frames} frames, ${s.messages} decoded, ${((Date.now() - started) / 1000).toFixed(1)} s`),
    });
    const seconds = (Date.now() - started) / 1000;
    console.log(`ok: ${stats.inputs} inputs (${stats.bytes} bytes), ${stats.frames} frames, ${stats.messages} messages decoded in ${seconds.toFixed(1)} s (${Math.round(stats.inputs / seconds)} inputs/s)`);
    for (const [k, v] of Object.entries(stats.outcomes).sort()) console.log(`  ${k}: ${v}`);
  } catch (e) {
    console.error(String(e));
    process.exit(1);
  }
}
