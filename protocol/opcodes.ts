/**
 * Protocol v1 constants: header layout, opcodes, flags and default limits.
 * PROTOCOL.md is normative; this file mirrors its tables.
 */

/** Protocol versions this codec speaks. The frame layout is the same in all of them. */
export const PROTOCOL_VERSION = 1;
export const SUPPORTED_VERSIONS: readonly number[] = [1];

/** Bytes of the u32 length prefix. */
export const PREFIX_BYTES = 4;
/** Bytes of the fixed header after the prefix: version u8, opcode u8, flags u16, stream id u32. */
export const HEADER_BYTES = 8;
/** Smallest whole frame: prefix + header, empty body. */
export const MIN_FRAME_BYTES = PREFIX_BYTES + HEADER_BYTES;

/** Flag bit 0: the frame answers a request (same opcode, same stream id). */
export const FLAG_RESPONSE = 0x0001;
/** Every flag bit v1 does not define; a frame with any of them set is refused. */
export const FLAGS_RESERVED = 0xfffe;

/** Stream 0 is the connection itself: HELLO, HELLO_OK and connection-level ERROR use it. */
export const CONNECTION_STREAM = 0;

/**
 * Opcodes. A reply carries its request's opcode with FLAG_RESPONSE set; ERROR
 * (always a response) may answer any request.
 */
export const Opcode = {
  HELLO: 0x01,
  ERROR: 0x02,
  PING: 0x03,
  /** Authentication round trips inside the handshake (§17), stream 0 only. */
  AUTH: 0x04,
  GET: 0x10,
  PUT: 0x11,
  DELETE: 0x12,
  STATS: 0x20,
  RING: 0x21,
  // Anti-entropy admin (issue 7, PROTOCOL.md §16): trigger an exchange now, and the per-partition status.
  AAE_EXCHANGE: 0x34,
  AAE_STATUS: 0x35,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** Node-to-node opcodes (same framing), defined by the cluster issue. */
export const NODE_OPCODE_MIN = 0x40;
export const NODE_OPCODE_MAX = 0x7f;
export const isNodeOpcode = (opcode: number): boolean => opcode >= NODE_OPCODE_MIN && opcode <= NODE_OPCODE_MAX;

/** HELLO role byte. */
export const Role = { client: 1, node: 2 } as const;
export type RoleName = keyof typeof Role;

/** Field encodings' hard ceilings (the size of their length fields). */
export const MAX_U16 = 0xffff;
export const MAX_U32 = 0xffffffff;

/**
 * What a server enforces unless configured otherwise; it announces the values
 * it actually uses in HELLO_OK. `maxFrameBytes` counts the whole frame,
 * length prefix included.
 */
export interface Limits {
  readonly maxFrameBytes: number;
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  readonly maxInFlight: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxFrameBytes: 8 * 1024 * 1024,
  maxKeyBytes: 1024,
  maxValueBytes: 1024 * 1024,
  maxInFlight: 1024,
};

/** Limits that only the encodings themselves impose (for decoding replies). */
export const NO_LIMITS: Limits = {
  maxFrameBytes: MAX_U32,
  maxKeyBytes: MAX_U16,
  maxValueBytes: MAX_U32,
  maxInFlight: MAX_U32,
};
