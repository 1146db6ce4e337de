/**
 * Builds the test vectors in protocol/vectors/ from this codec. The committed
 * files are the reference: test/protocol/vectors.test.ts checks the codec
 * against them, and checks that this generator still reproduces them, so a
 * change to the wire format shows up as a diff in the vectors.
 *
 *   node --import tsx protocol/gen_vectors.ts      (rewrites protocol/vectors/*.json)
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { messageToJson, toHex, type JsonMessage } from './json.js';
import { encode, type Message } from './messages.js';
import { DEFAULT_LIMITS, type Limits } from './opcodes.js';

export interface Vector {
  readonly name: string;
  readonly description: string;
  readonly message: JsonMessage;
  /** The exact frame, length prefix included, as lowercase hex. */
  readonly frame: string;
}

export interface InvalidVector {
  readonly name: string;
  readonly description: string;
  readonly frame: string;
  /** `frame`: the frame decoder refuses the header (close the connection). `message`: the header is fine, the body decoder refuses it. */
  readonly stage: 'frame' | 'message';
  /** Limits the receiver enforces for this case. */
  readonly limits: Limits;
  readonly code: string;
  /** This codec's reason text (informative; only `code` is normative). */
  readonly reason: string;
}

export interface VectorFile {
  readonly description: string;
  readonly vectors: readonly Vector[];
}

export interface InvalidVectorFile {
  readonly description: string;
  readonly invalid: readonly InvalidVector[];
}

const text = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const pattern = (n: number, seed = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i + seed) & 0xff);
const none = new Uint8Array(0);

const vector = (name: string, description: string, message: Message): Vector => ({
  name,
  description,
  message: messageToJson(message),
  frame: toHex(encode(message)),
});

const hello: Message = {
  op: 'HELLO',
  streamId: 0,
  minVersion: 1,
  maxVersion: 1,
  role: 'client',
  clientName: 'ringkv-js/0.1.0',
  nodeId: '',
  authMechanism: '',
  authPayload: none,
};
const get: Message = { op: 'GET', streamId: 1, key: text('user:42'), r: 0, timeoutMs: 0 };
const getReply: Message = { op: 'GET_REPLY', streamId: 1, found: true, context: pattern(8, 0xa0), siblings: [{ value: text('{"cart":["apple"]}'), tombstone: false }] };

export const buildVectors = (): Readonly<Record<string, VectorFile | InvalidVectorFile>> => ({
  'hello.json': {
    description: 'HELLO (opcode 0x01, stream 0) and its reply HELLO_OK (opcode 0x01 + response flag).',
    vectors: [
      vector('hello-client', 'a client offering exactly version 1, no authentication', hello),
      vector('hello-node', 'a node introducing itself to a peer, offering versions 1..3', {
        op: 'HELLO', streamId: 0, minVersion: 1, maxVersion: 3, role: 'node', clientName: 'ringkv-node/0.1.0', nodeId: 'n2', authMechanism: '', authPayload: none,
      }),
      vector('hello-auth-placeholder', 'the auth fields filled, as a later mechanism would (v1 servers treat a non-empty mechanism as unsupported)', {
        ...hello, authMechanism: 'SCRAM-SHA-256', authPayload: text('n,,n=app,r=abc'),
      }),
      vector('hello-ok', 'the default limits and ring version 42', {
        op: 'HELLO_OK', streamId: 0, version: 1, nodeId: 'n1', ...DEFAULT_LIMITS, ringVersion: 42n,
      }),
      vector('hello-ok-max', 'every u32 limit and the u64 ring version at their maximum', {
        op: 'HELLO_OK', streamId: 0, version: 1, nodeId: '127.0.0.1:7401',
        maxFrameBytes: 0xffffffff, maxKeyBytes: 0xffffffff, maxValueBytes: 0xffffffff, maxInFlight: 0xffffffff,
        ringVersion: 0xffffffffffffffffn,
      }),
    ],
  },
  'get.json': {
    description: 'GET (0x10) and GET_REPLY (0x10 + response flag).',
    vectors: [
      vector('get', 'defaults: r = 0, timeoutMs = 0', get),
      vector('get-overrides', 'r = 2, timeoutMs = 250, the largest stream id', { op: 'GET', streamId: 0xffffffff, key: text('k'), r: 2, timeoutMs: 250 }),
      vector('get-key-1024', 'a key of 1024 bytes, the default maxKeyBytes', { op: 'GET', streamId: 2, key: pattern(1024), r: 0, timeoutMs: 0 }),
      vector('get-key-65535', 'a key of 65535 bytes, the most the u16 length can say (a server with default limits answers KV_TOO_LARGE)', {
        op: 'GET', streamId: 3, key: pattern(65535), r: 0, timeoutMs: 0,
      }),
      vector('get-reply-not-found', 'not found: zero siblings, empty context', { op: 'GET_REPLY', streamId: 1, found: false, context: none, siblings: [] }),
      vector('get-reply-deleted', 'not found, but a tombstone and its context exist (write with this context to supersede the delete)', {
        op: 'GET_REPLY', streamId: 1, found: false, context: pattern(4, 0xc0), siblings: [{ value: none, tombstone: true }],
      }),
      vector('get-reply', 'one sibling', getReply),
      vector('get-reply-siblings', 'three concurrent siblings, one an empty value, one a tombstone', {
        op: 'GET_REPLY', streamId: 258, found: true, context: pattern(12, 0x10),
        siblings: [{ value: text('a'), tombstone: false }, { value: none, tombstone: false }, { value: none, tombstone: true }],
      }),
    ],
  },
  'put.json': {
    description: 'PUT (0x11) and PUT_REPLY (0x11 + response flag).',
    vectors: [
      vector('put-blind', 'no context: a blind write that adds a sibling', { op: 'PUT', streamId: 7, key: text('user:42'), value: text('hello'), context: none, w: 0, timeoutMs: 0 }),
      vector('put-with-context', 'the context of a GET, w = 2, timeoutMs = 1000', {
        op: 'PUT', streamId: 8, key: text('user:42'), value: text('{"cart":["apple","pear"]}'), context: pattern(8, 0xa0), w: 2, timeoutMs: 1000,
      }),
      vector('put-empty-value', 'an empty value is a value, not a delete', { op: 'PUT', streamId: 9, key: text('e'), value: none, context: none, w: 0, timeoutMs: 0 }),
      vector('put-reply', 'the context after the write', { op: 'PUT_REPLY', streamId: 8, context: pattern(8, 0xb0) }),
      vector('put-reply-empty', 'a server that returns no context', { op: 'PUT_REPLY', streamId: 7, context: none }),
    ],
  },
  'delete.json': {
    description: 'DELETE (0x12) and DELETE_REPLY (0x12 + response flag).',
    vectors: [
      vector('delete', 'delete with the context of a GET', { op: 'DELETE', streamId: 10, key: text('user:42'), context: pattern(8, 0xa0), w: 0, timeoutMs: 0 }),
      vector('delete-blind', 'no context, w = 3, timeoutMs = 60000', { op: 'DELETE', streamId: 11, key: text('x'), context: none, w: 3, timeoutMs: 60000 }),
      vector('delete-reply', 'the tombstone\'s context', { op: 'DELETE_REPLY', streamId: 10, context: pattern(8, 0xd0) }),
    ],
  },
  'ping.json': {
    description: 'PING (0x03) and PONG (0x03 + response flag), which echoes the payload.',
    vectors: [
      vector('ping-empty', 'no payload', { op: 'PING', streamId: 1, payload: none }),
      vector('ping', 'an 8-byte payload', { op: 'PING', streamId: 2, payload: pattern(8) }),
      vector('pong', 'the echo', { op: 'PONG', streamId: 2, payload: pattern(8) }),
    ],
  },
  'stats.json': {
    description: 'STATS (0x20, empty body) and STATS_REPLY (0x20 + response flag): (name, f64) pairs.',
    vectors: [
      vector('stats', 'the request', { op: 'STATS', streamId: 4 }),
      vector('stats-reply', 'a few counters', {
        op: 'STATS_REPLY', streamId: 4,
        stats: [{ name: 'get.ops_per_sec', value: 1234.5 }, { name: 'get.latency_p99_9_ms', value: 0.25 }, { name: 'hints.pending', value: 0 }, { name: 'clock.skew_ms', value: -3 }],
      }),
      vector('stats-reply-empty', 'no stats', { op: 'STATS_REPLY', streamId: 5, stats: [] }),
    ],
  },
  'ring.json': {
    description: 'RING (0x21) and RING_REPLY (0x21 + response flag): opaque bodies until the cluster issue defines them.',
    vectors: [
      vector('ring', 'empty request body', { op: 'RING', streamId: 6, body: none }),
      vector('ring-reply', 'an opaque body', { op: 'RING_REPLY', streamId: 6, body: pattern(5, 0x40) }),
    ],
  },
  'error.json': {
    description: 'ERROR (0x02, always with the response flag).',
    vectors: [
      vector('error-connection', 'connection-level (stream 0): the sender closes after it', {
        op: 'ERROR', streamId: 0, code: 'KV_BAD_FRAME', message: 'reserved flags set', retryable: false,
      }),
      vector('error-stream', 'one request failed, retryable; the connection stays open', {
        op: 'ERROR', streamId: 5, code: 'KV_TIMEOUT', message: 'quorum not reached: 1 of 2 replies in 500 ms', retryable: true,
      }),
      vector('error-unsupported', 'the answer to an unknown request opcode', {
        op: 'ERROR', streamId: 12, code: 'KV_UNSUPPORTED', message: 'opcode 0x30 not supported', retryable: false,
      }),
      vector('error-utf8', 'a message with non-ASCII UTF-8', { op: 'ERROR', streamId: 13, code: 'KV_UNAVAILABLE', message: 'nœud n3 injoignable ✗', retryable: true }),
    ],
  },
  'node.json': {
    description: 'Node-to-node opcodes 0x40..0x7F: same framing, bodies defined by the cluster issue (opaque here).',
    vectors: [
      vector('node-request', 'opcode 0x40, request', { op: 'NODE', streamId: 100, opcode: 0x40, response: false, body: text('gossip') }),
      vector('node-response', 'opcode 0x7f, response, empty body', { op: 'NODE', streamId: 100, opcode: 0x7f, response: true, body: none }),
    ],
  },
  'invalid.json': {
    description: 'Byte sequences a receiver must refuse, with the code it refuses them with.',
    invalid: invalidVectors(),
  },
});

const patch = (m: Message, edit: (b: Buffer) => Buffer | void): string => {
  const b = Buffer.from(encode(m));
  return (edit(b) ?? b).toString('hex');
};
/** Re-states the length prefix after a body edit changed the size. */
const relength = (b: Buffer): Buffer => {
  b.writeUInt32BE(b.length - 4, 0);
  return b;
};

const invalid = (
  name: string,
  description: string,
  stage: 'frame' | 'message',
  code: string,
  reason: string,
  frame: string,
  limits: Limits = DEFAULT_LIMITS,
): InvalidVector => ({ name, description, frame, stage, limits, code, reason });

function invalidVectors(): InvalidVector[] {
  const small = { ...DEFAULT_LIMITS, maxFrameBytes: 64 };
  return [
    invalid('length-below-header', 'length 7 < the 8 header bytes', 'frame', 'KV_BAD_FRAME', 'length < header size', '00000007010100000000000000'),
    invalid('reserved-flags', 'a GET with flag bit 1 set', 'frame', 'KV_BAD_FRAME', 'reserved flags set', patch(get, (b) => void b.writeUInt16BE(0x0002, 6))),
    invalid('version-7', 'header version 7', 'frame', 'KV_BAD_FRAME', 'version 7 not supported', patch(get, (b) => void (b[4] = 7))),
    invalid('version-0', 'header version 0', 'frame', 'KV_BAD_FRAME', 'version 0 not supported', patch(get, (b) => void (b[4] = 0))),
    invalid('length-huge', 'length 0xffffffff: refused from the prefix alone, nothing allocated', 'frame', 'KV_TOO_LARGE', 'frame of 4294967299 bytes > maxFrameBytes 8388608', 'ffffffff01100000'),
    invalid('frame-over-limit', 'a 65-byte PING against maxFrameBytes 64', 'frame', 'KV_TOO_LARGE', 'frame of 65 bytes > maxFrameBytes 64',
      toHex(encode({ op: 'PING', streamId: 1, payload: pattern(65 - 16) })), small),
    invalid('unknown-request-opcode', 'request opcode 0x30: answered on its stream, connection stays open', 'message', 'KV_UNSUPPORTED', 'opcode 0x30 not supported',
      patch(get, (b) => void (b[5] = 0x30))),
    invalid('unknown-response-opcode', 'a response with opcode 0x30 (no request could have caused it)', 'message', 'KV_BAD_FRAME', 'response with unknown opcode 0x30',
      patch(get, (b) => { b[5] = 0x30; b[7] = 1; })),
    invalid('truncated-key', 'GET whose key length says 7 but only 6 bytes follow', 'message', 'KV_BAD_FRAME', 'key needs 7 bytes, 6 left',
      patch(get, (b) => relength(b.subarray(0, b.length - 1)))),
    invalid('trailing-bytes', 'GET followed by one extra body byte', 'message', 'KV_BAD_FRAME', '1 trailing bytes after the body',
      patch(get, (b) => relength(Buffer.concat([b, Buffer.from([0])])))),
    invalid('get-on-stream-0', 'GET on the connection stream', 'message', 'KV_BAD_FRAME', 'GET on stream 0', patch(get, (b) => void b.writeUInt32BE(0, 8))),
    invalid('hello-on-stream-1', 'HELLO off stream 0', 'message', 'KV_BAD_FRAME', 'HELLO must use stream 0', patch(hello, (b) => void b.writeUInt32BE(1, 8))),
    invalid('hello-role-3', 'HELLO with role 3', 'message', 'KV_BAD_FRAME', 'role 3 unknown', patch(hello, (b) => void (b[14] = 3))),
    invalid('hello-min-above-max', 'HELLO with minVersion 2 > maxVersion 1', 'message', 'KV_BAD_FRAME', 'need 1 <= minVersion <= maxVersion', patch(hello, (b) => void (b[12] = 2))),
    invalid('error-without-response-flag', 'ERROR sent as a request', 'message', 'KV_BAD_FRAME', 'ERROR without the response flag',
      patch({ op: 'ERROR', streamId: 1, code: 'KV_TIMEOUT', message: '', retryable: false }, (b) => void b.writeUInt16BE(0, 6))),
    invalid('sibling-reserved-bit', 'a sibling flag byte with bit 1 set', 'message', 'KV_BAD_FRAME', 'sibling flags: reserved bits set',
      patch(getReply, (b) => void (b[12 + 1 + 4 + 8 + 2] = 2))),
    invalid('sibling-count-too-big', 'GET_REPLY claiming 65535 siblings in an empty body', 'message', 'KV_BAD_FRAME', 'siblings needs 327675 bytes, 0 left',
      patch({ op: 'GET_REPLY', streamId: 1, found: false, context: none, siblings: [] }, (b) => void b.writeUInt16BE(0xffff, b.length - 2))),
    invalid('bad-utf8', 'an ERROR message that is not UTF-8', 'message', 'KV_BAD_FRAME', 'message is not valid UTF-8',
      patch({ op: 'ERROR', streamId: 1, code: 'KV_TIMEOUT', message: 'ab', retryable: false }, (b) => void (b[b.length - 1] = 0xff))),
    invalid('key-over-limit', 'a well-formed GET with a 1025-byte key: answered on its stream, connection stays open', 'message', 'KV_TOO_LARGE',
      'key of 1025 bytes > maxKeyBytes 1024', toHex(encode({ op: 'GET', streamId: 1, key: pattern(1025), r: 0, timeoutMs: 0 }))),
    invalid('empty-key', 'a well-formed PUT with an empty key: answered on its stream', 'message', 'KV_BAD_ARGUMENT', 'empty key',
      toHex(encode({ op: 'PUT', streamId: 1, key: none, value: text('v'), context: none, w: 0, timeoutMs: 0 }))),
  ];
}

/** The files exactly as committed (2-space JSON and a final newline). */
export const renderVectors = (): Readonly<Record<string, string>> =>
  Object.fromEntries(Object.entries(buildVectors()).map(([name, body]) => [name, JSON.stringify(body, null, 2) + '\n']));

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const [name, body] of Object.entries(renderVectors())) {
    writeFileSync(new URL(`./vectors/${name}`, import.meta.url), body);
    console.log(`wrote protocol/vectors/${name}`);
  }
}
