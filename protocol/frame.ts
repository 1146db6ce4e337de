/**
 * Frames: the length prefix and fixed header every message shares, a header
 * check that names its reason, and a push-based incremental decoder.
 *
 *   u32 length | u8 version | u8 opcode | u16 flags | u32 stream id | body
 *   (big-endian; `length` counts everything after itself)
 */
import * as E from 'fp-ts/lib/Either.js';
import { KvError } from '../src/errors.js';
import { Reader } from './fields.js';
import {
  DEFAULT_LIMITS,
  FLAG_RESPONSE,
  FLAGS_RESERVED,
  HEADER_BYTES,
  MAX_U32,
  MIN_FRAME_BYTES,
  PREFIX_BYTES,
  SUPPORTED_VERSIONS,
} from './opcodes.js';

/**
 * One decoded frame. `bytes` is the whole frame (prefix included) and `body`
 * the bytes after the header; both may alias the chunk handed to
 * `FrameDecoder.push` (zero-copy), so copy them before that memory is reused.
 */
export interface Frame {
  readonly version: number;
  readonly opcode: number;
  readonly flags: number;
  readonly streamId: number;
  readonly bytes: Uint8Array;
  readonly body: Uint8Array;
}

export const isResponse = (frame: Pick<Frame, 'flags'>): boolean => (frame.flags & FLAG_RESPONSE) !== 0;

/** Why a frame's length field is unacceptable, with the code it is refused with; null when fine. */
export const invalidLength = (
  length: number,
  maxFrameBytes: number,
): { readonly code: 'KV_BAD_FRAME' | 'KV_TOO_LARGE'; readonly reason: string } | null => {
  if (length < HEADER_BYTES) return { code: 'KV_BAD_FRAME', reason: 'length < header size' };
  if (length + PREFIX_BYTES > maxFrameBytes) {
    return { code: 'KV_TOO_LARGE', reason: `frame of ${length + PREFIX_BYTES} bytes > maxFrameBytes ${maxFrameBytes}` };
  }
  return null;
};

/**
 * Why a header is invalid (TigerBeetle style: the reason, not a boolean), or
 * null. Every reason is refused with KV_BAD_FRAME.
 */
export const invalidHeader = (version: number, flags: number): string | null => {
  if (!SUPPORTED_VERSIONS.includes(version)) return `version ${version} not supported`;
  if ((flags & FLAGS_RESERVED) !== 0) return 'reserved flags set';
  return null;
};

const u32At = (b: Uint8Array, o: number): number =>
  ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/** Writes the prefix and header at `offset`; `bodyBytes` is the body's size. */
export const writeHeader = (
  out: Uint8Array,
  offset: number,
  bodyBytes: number,
  version: number,
  opcode: number,
  flags: number,
  streamId: number,
): void => {
  const length = HEADER_BYTES + bodyBytes;
  out[offset] = length >>> 24;
  out[offset + 1] = length >>> 16;
  out[offset + 2] = length >>> 8;
  out[offset + 3] = length;
  out[offset + 4] = version;
  out[offset + 5] = opcode;
  out[offset + 6] = flags >>> 8;
  out[offset + 7] = flags;
  out[offset + 8] = streamId >>> 24;
  out[offset + 9] = streamId >>> 16;
  out[offset + 10] = streamId >>> 8;
  out[offset + 11] = streamId;
};

/**
 * A frame found at source[start, end): `bytes` and `body` are views made on
 * first use. Most frames are decoded straight from the source (decodeMessage
 * reads it through `bodyReader`), and a view costs about as much as decoding a small body,
 * so a frame wholly inside a chunk costs no view at all.
 */
class SourceFrame implements Frame {
  readonly version: number;
  readonly opcode: number;
  readonly flags: number;
  readonly streamId: number;
  constructor(
    readonly source: Uint8Array,
    readonly start: number,
    readonly end: number,
  ) {
    this.version = source[start + 4]!;
    this.opcode = source[start + 5]!;
    this.flags = (source[start + 6]! << 8) | source[start + 7]!;
    this.streamId = u32At(source, start + 8);
  }
  get bytes(): Uint8Array {
    return this.start === 0 && this.end === this.source.length ? this.source : this.source.subarray(this.start, this.end);
  }
  get body(): Uint8Array {
    return this.source.subarray(this.start + MIN_FRAME_BYTES, this.end);
  }
}

/** A Reader over the frame's body, reading in place (no view) when the frame came from a FrameDecoder. */
export const bodyReader = (frame: Frame): Reader =>
  frame instanceof SourceFrame ? new Reader(frame.source, frame.start + MIN_FRAME_BYTES, frame.end) : new Reader(frame.body);

const makeFrame = (bytes: Uint8Array, start = 0, end = bytes.length): Frame => new SourceFrame(bytes, start, end);

/** First buffer for a frame split across chunks; it doubles from here as bytes arrive. */
const INITIAL_PARTIAL_BYTES = 64 * 1024;

export interface FrameDecoderOptions {
  /** Largest whole frame accepted (prefix included); default DEFAULT_LIMITS.maxFrameBytes. */
  readonly maxFrameBytes?: number;
}

/**
 * Push-based frame decoder. Feed it the byte stream in any split (one byte at
 * a time works), then pull frames:
 *
 *   decoder.push(chunk);
 *   for (let f = decoder.next(); f !== undefined; f = decoder.next()) handle(f);
 *
 * A frame wholly inside one chunk is returned as a subarray of that chunk (no
 * copy); a frame split across chunks is assembled into one buffer that ends
 * up exactly its size. That buffer starts at min(size, 64 KiB) and doubles as
 * bytes arrive, so a peer that announces a large frame and then trickles (or
 * never sends) its bytes makes the decoder hold at most about twice what it
 * actually sent, never the announced size; and nothing at all is allocated
 * for a length that fails the limit check.
 *
 * The first invalid header makes the decoder fail: `next()` hands out the
 * frames that preceded it, then throws a KvError (KV_BAD_FRAME or
 * KV_TOO_LARGE) with the reason, and keeps throwing it. The connection must
 * then be closed. `push` itself never throws.
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;
  // The partial frame: its first 12 bytes collect in `head` until the header
  // is checked, then the frame collects in `partial` (capacity grows up to
  // `partialTotal`, the frame's size).
  private readonly head = new Uint8Array(MIN_FRAME_BYTES);
  private headFill = 0;
  private partial: Uint8Array | null = null;
  private partialFill = 0;
  private partialTotal = 0;
  private ready: Frame[] = [];
  private readyNext = 0;
  private failure: KvError | null = null;

  constructor(options: FrameDecoderOptions = {}) {
    const max = options.maxFrameBytes ?? DEFAULT_LIMITS.maxFrameBytes;
    if (!Number.isInteger(max) || max < MIN_FRAME_BYTES || max > MAX_U32 + PREFIX_BYTES) {
      throw new KvError('KV_BAD_ARGUMENT', `maxFrameBytes must be an integer in ${MIN_FRAME_BYTES}..${MAX_U32 + PREFIX_BYTES}`);
    }
    this.maxFrameBytes = max;
  }

  /** Bytes of an incomplete frame the decoder holds (never more than maxFrameBytes). */
  get bufferedBytes(): number {
    return this.partial !== null ? this.partialFill : this.headFill;
  }

  /** Bytes allocated for an incomplete frame: at most min(its size, max(64 KiB, 2 × bufferedBytes)). */
  get reservedBytes(): number {
    return this.partial !== null ? this.partial.length : this.head.length;
  }

  /** Frames decoded and not yet pulled. */
  get pendingFrames(): number {
    return this.ready.length - this.readyNext;
  }

  /** True once an invalid header was seen. */
  get failed(): boolean {
    return this.failure !== null;
  }

  /** Appends bytes of the stream. Bytes after an invalid header are ignored. */
  push(chunk: Uint8Array): void {
    let at = 0;
    const end = chunk.length;
    while (at < end && this.failure === null) {
      if (this.partial !== null) {
        // Continue a frame that started in an earlier chunk.
        const take = Math.min(this.partialTotal - this.partialFill, end - at);
        this.append(chunk.subarray(at, at + take));
        at += take;
        if (this.partialFill === this.partialTotal) {
          // append() caps the buffer at the frame's size, so a full frame fills it exactly.
          if (this.partial.length !== this.partialTotal) throw new KvError('KV_INTERNAL', 'partial frame buffer size mismatch');
          this.ready.push(makeFrame(this.partial));
          this.partial = null;
          this.partialFill = 0;
          this.partialTotal = 0;
        }
        continue;
      }
      if (this.headFill === 0 && end - at >= MIN_FRAME_BYTES) {
        // Fast path: the header is inside this chunk.
        const length = u32At(chunk, at);
        if (!this.check(length, chunk[at + 4]!, (chunk[at + 6]! << 8) | chunk[at + 7]!)) return;
        const total = length + PREFIX_BYTES;
        if (end - at >= total) {
          this.ready.push(makeFrame(chunk, at, at + total));
          at += total;
        } else {
          this.start(total);
          this.append(chunk.subarray(at, end));
          at = end;
        }
        continue;
      }
      // Slow path: collect the prefix and header byte by byte across chunks.
      const take = Math.min(MIN_FRAME_BYTES - this.headFill, end - at);
      this.head.set(chunk.subarray(at, at + take), this.headFill);
      const before = this.headFill;
      this.headFill += take;
      at += take;
      // Refuse a bad length as soon as its 4 bytes are known, before waiting for more.
      if (before < PREFIX_BYTES && this.headFill >= PREFIX_BYTES) {
        const bad = invalidLength(u32At(this.head, 0), this.maxFrameBytes);
        if (bad !== null) {
          this.failure = new KvError(bad.code, bad.reason);
          return;
        }
      }
      if (this.headFill === MIN_FRAME_BYTES) {
        const length = u32At(this.head, 0);
        if (!this.check(length, this.head[4]!, (this.head[6]! << 8) | this.head[7]!)) return;
        const total = length + PREFIX_BYTES;
        this.headFill = 0;
        if (total === MIN_FRAME_BYTES) {
          this.ready.push(makeFrame(this.head.slice()));
        } else {
          this.start(total);
          this.append(this.head);
        }
      }
    }
  }

  /** The next complete frame, or undefined; throws the decoder's KvError once frames before it are drained. */
  next(): Frame | undefined {
    if (this.readyNext < this.ready.length) {
      const frame = this.ready[this.readyNext++]!;
      if (this.readyNext === this.ready.length) {
        this.ready.length = 0;
        this.readyNext = 0;
      }
      return frame;
    }
    if (this.failure !== null) throw this.failure;
    return undefined;
  }

  private start(total: number): void {
    this.partial = new Uint8Array(Math.min(total, INITIAL_PARTIAL_BYTES));
    this.partialFill = 0;
    this.partialTotal = total;
  }

  /** Copies `bytes` into the partial frame, doubling its buffer (capped at the frame size) when full. */
  private append(bytes: Uint8Array): void {
    let buf = this.partial!;
    const need = this.partialFill + bytes.length;
    if (need > buf.length) {
      const grown = new Uint8Array(Math.min(this.partialTotal, Math.max(need, buf.length * 2)));
      grown.set(buf.subarray(0, this.partialFill), 0);
      this.partial = buf = grown;
    }
    buf.set(bytes, this.partialFill);
    this.partialFill = need;
  }

  private check(length: number, version: number, flags: number): boolean {
    const bad = invalidLength(length, this.maxFrameBytes);
    if (bad !== null) {
      this.failure = new KvError(bad.code, bad.reason);
      return false;
    }
    const reason = invalidHeader(version, flags);
    if (reason !== null) {
      this.failure = new KvError('KV_BAD_FRAME', reason);
      return false;
    }
    return true;
  }
}

/**
 * Decodes exactly one whole frame held in `bytes` (e.g. a test vector).
 * Left(KvError) when the header is invalid or the bytes are not exactly one frame.
 */
export const decodeFrame = (bytes: Uint8Array, maxFrameBytes = DEFAULT_LIMITS.maxFrameBytes): E.Either<KvError, Frame> => {
  if (bytes.length < MIN_FRAME_BYTES) return E.left(new KvError('KV_BAD_FRAME', `${bytes.length} bytes < frame header`));
  const length = u32At(bytes, 0);
  const badLength = invalidLength(length, maxFrameBytes);
  if (badLength !== null) return E.left(new KvError(badLength.code, badLength.reason));
  const reason = invalidHeader(bytes[4]!, (bytes[6]! << 8) | bytes[7]!);
  if (reason !== null) return E.left(new KvError('KV_BAD_FRAME', reason));
  if (length + PREFIX_BYTES !== bytes.length) {
    return E.left(new KvError('KV_BAD_FRAME', `length says ${length + PREFIX_BYTES} bytes, have ${bytes.length}`));
  }
  return E.right(makeFrame(bytes));
};
