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
import { fromHex, messageToJson, toHex, type JsonMessage } from './json.js';
import { decodeMessage, encode, type Hello, type Message } from './messages.js';
import { decodeFrame } from './frame.js';
import { DEFAULT_LIMITS, type Limits } from './opcodes.js';
import { makeRing } from '../src/core/ring.js';
import { chunkChecksum, encodeClusterRing } from './ring_plan.js';
import { encodePeer, encodeRingBody, peerToJson, ringToJson, type PeerJson, type PeerRequestType, type RingBody } from './peer.js';
import type { PeerReply, PeerRequest } from './peer_messages.js';
import { Secret } from '../src/auth/secret.js';
import { acceptorChallenge, clusterKey, initiatorResponse, NODE_MECHANISM } from '../src/auth/node_auth.js';

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

/** A node-to-node vector: the framing-level `message` plus the typed peer message (or RING_REPLY body) it carries. */
export interface PeerVector extends Vector {
  /** The typed peer message (peerToJson form); absent on RING_REPLY vectors. */
  readonly peer?: PeerJson;
  /** The request a reply answers (its opcode is the request's). */
  readonly inReplyTo?: PeerRequestType;
  /** The RING_REPLY body decoded (ringToJson form). */
  readonly ring?: PeerJson;
}

/**
 * Bytes that pass the frame decoder and decodeMessage but that the peer
 * decoders must refuse: `decoder` says which one (decodePeerRequest,
 * decodePeerReply with `inReplyTo`, decodeRingBody on a RING_REPLY's body).
 */
export interface PeerInvalidVector {
  readonly name: string;
  readonly description: string;
  readonly frame: string;
  readonly decoder: 'request' | 'reply' | 'ring';
  readonly inReplyTo?: PeerRequestType;
  readonly code: string;
  /** This codec's reason text (informative; only `code` is normative). */
  readonly reason: string;
}

export interface PeerVectorFile extends VectorFile {
  readonly vectors: readonly PeerVector[];
  readonly invalid: readonly PeerInvalidVector[];
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

export const buildVectors = (): Readonly<Record<string, VectorFile | InvalidVectorFile | PeerVectorFile>> => ({
  'hello.json': {
    description: 'HELLO (opcode 0x01, stream 0) and its reply HELLO_OK (opcode 0x01 + response flag).',
    vectors: [
      vector('hello-client', 'a client offering exactly version 1, no authentication', hello),
      vector('hello-node', 'a node introducing itself to a peer, offering versions 1..3', {
        op: 'HELLO', streamId: 0, minVersion: 1, maxVersion: 3, role: 'node', clientName: 'ringkv-node/0.1.0', nodeId: 'n2', authMechanism: '', authPayload: none,
      }),
      vector('hello-auth-placeholder', 'the auth fields filled (a SCRAM client-first, §17); a server without authentication answers KV_AUTH', {
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
  'auth.json': authVectors(),
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
  ...peerVectors(),
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

/**
 * §17: one SCRAM-SHA-256 login (the RFC 7677 example: user "user", password
 * "pencil") and one node exchange under the cluster secret
 * "ringkv-example-cluster-secret" with fixed nonces, frame by frame.
 */
function authVectors(): VectorFile {
  const scram = {
    clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
    serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
    clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
  };
  const key = clusterKey(new Secret('ringkv-example-cluster-secret'));
  const nI = pattern(32, 0x10);
  const nA = pattern(32, 0x80);
  const challenge = acceptorChallenge(key, nI, nA, 'n2')!;
  const answer = initiatorResponse(key, nI, challenge, 'n2')!;
  return {
    description:
      'AUTH (0x04, stream 0) and AUTH_REPLY (0x04 + response flag, stream 0): the authentication round trips of the handshake (§17). ' +
      'SCRAM-SHA-256 with the RFC 7677 example (user "user", password "pencil"); RINGKV-NODE-HMAC-SHA-256 with cluster secret "ringkv-example-cluster-secret", initiator n2.',
    vectors: [
      vector('hello-scram', 'HELLO carrying the SCRAM client-first message', { ...(hello as Hello), authMechanism: 'SCRAM-SHA-256', authPayload: text(scram.clientFirst) }),
      vector('auth-reply-server-first', 'the server-first message: combined nonce, salt, iterations', { op: 'AUTH_REPLY', streamId: 0, payload: text(scram.serverFirst) }),
      vector('auth-client-final', 'the client-final message with the client proof', { op: 'AUTH', streamId: 0, payload: text(scram.clientFinal) }),
      vector('auth-reply-server-final', 'the server signature; HELLO_OK follows', { op: 'AUTH_REPLY', streamId: 0, payload: text(scram.serverFinal) }),
      vector('hello-node-hmac', 'a node offering the cluster-secret mechanism with its 32-byte nonce nI', {
        op: 'HELLO', streamId: 0, minVersion: 1, maxVersion: 1, role: 'node', clientName: 'ringkv-node', nodeId: 'n2', authMechanism: NODE_MECHANISM, authPayload: nI,
      }),
      vector('auth-reply-node', 'the acceptor: its nonce nA, then its proof HMAC(K, "acceptor" ‖ nI ‖ nA ‖ u16 len ‖ "n2")', { op: 'AUTH_REPLY', streamId: 0, payload: challenge }),
      vector('auth-node', 'the initiator: its proof HMAC(K, "initiator" ‖ nI ‖ nA ‖ u16 len ‖ "n2")', { op: 'AUTH', streamId: 0, payload: answer }),
    ],
  };
}

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
    invalid('auth-on-stream-1', 'AUTH off stream 0', 'message', 'KV_BAD_FRAME', 'AUTH must use stream 0',
      patch({ op: 'AUTH', streamId: 0, payload: text('x') }, (b) => void b.writeUInt32BE(1, 8))),
    invalid('auth-payload-short', 'AUTH whose payload length says 2 but 1 byte follows', 'message', 'KV_BAD_FRAME', 'payload needs 2 bytes, 1 left',
      patch({ op: 'AUTH', streamId: 0, payload: text('xy') }, (b) => relength(b.subarray(0, b.length - 1)))),
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

// ---------------------------------------------------------------- node-to-node (protocol/peer.ts)

const peerVector = (name: string, description: string, streamId: number, m: PeerRequest | PeerReply, inReplyTo?: PeerRequestType): PeerVector => {
  const frame = encodePeer(streamId, m, inReplyTo);
  const decoded = decodeFrame(frame);
  if (decoded._tag === 'Left') throw decoded.left;
  const message = decodeMessage(decoded.right);
  if (message._tag === 'Left') throw message.left;
  return {
    name,
    description,
    message: messageToJson(message.right),
    peer: peerToJson(m),
    ...(inReplyTo === undefined ? {} : { inReplyTo }),
    frame: toHex(frame),
  };
};

const ringVector = (name: string, description: string, streamId: number, ring: RingBody): PeerVector => {
  const message: Message = { op: 'RING_REPLY', streamId, body: encodeRingBody(ring) };
  return { name, description, message: messageToJson(message), ring: ringToJson(ring), frame: toHex(encode(message)) };
};

const peerInvalid = (
  name: string,
  description: string,
  decoder: PeerInvalidVector['decoder'],
  code: string,
  reason: string,
  frame: string,
  inReplyTo?: PeerRequestType,
): PeerInvalidVector => ({ name, description, frame, decoder, ...(inReplyTo === undefined ? {} : { inReplyTo }), code, reason });

/** A node frame with `hex` as its body (length prefix computed). */
const nodeFrame = (opcode: number, response: boolean, streamId: number, hex: string): string =>
  toHex(encode({ op: 'NODE', streamId, opcode, response, body: fromHex(hex) }));

const entry = (id: string, address: string, status: string, incarnation: number, heartbeat: number, claimVersion: number, weight: number) =>
  ({ id, address, status, incarnation, heartbeat, claimVersion, weight });

function peerVectors(): Record<string, PeerVectorFile> {
  const key = text('user:42');
  const object = pattern(12, 0x30);
  const replicaPut: PeerRequest = { type: 'REPLICA_PUT', partition: 37, key, object, hintFor: '' };
  const gossip: PeerRequest = {
    type: 'GOSSIP',
    entries: [entry('n1', '127.0.0.1:7401', 'up', 1, 42, 3, 1), entry('n2', '127.0.0.1:7402', 'down', 0, 7, 3, 1.5)],
  };
  const ring: RingBody = {
    ringVersion: 0xcbf29ce484222325n,
    qBits: 3,
    n: 3,
    members: [{ id: 'n1', address: '127.0.0.1:7401' }, { id: 'n2', address: '127.0.0.1:7402' }, { id: 'n3', address: '127.0.0.1:7403' }],
    owners: [0, 1, 2, 0, 1, 2, 0, 1],
  };
  const ringHex = toHex(encodeRingBody(ring));
  const clusterRing = encodeClusterRing({
    epoch: 1,
    committer: 'n1',
    current: makeRing(['n1', 'n2']),
    next: null,
    members: [{ id: 'n1', weight: 1 }, { id: 'n2', weight: 1 }],
    done: [],
  });
  const ringFrame = (bodyHex: string): string => toHex(encode({ op: 'RING_REPLY', streamId: 6, body: fromHex(bodyHex) }));
  const emptyEntryBody = (mid: string): string =>
    '0001' + '00026e31' + '0000' + mid; // one entry: id "n1", empty address, then `mid` (status, counters, weight)
  const counters = '0000000000000000'.repeat(3);
  const one = '3ff0000000000000';
  return {
    'peer_replica.json': {
      description: 'REPLICA_GET (0x40) / REPLICA_GET_REPLY, REPLICA_PUT (0x41) / ACK, REPLICA_PUT_BATCH (0x42) / ACK: replica reads and writes between nodes.',
      vectors: [
        peerVector('replica-get', 'read one key\'s object from a replica of partition 37', 21, { type: 'REPLICA_GET', partition: 37, key }),
        peerVector('replica-get-reply', 'found: the stored object bytes', 21, { type: 'REPLICA_GET_REPLY', found: true, object }, 'REPLICA_GET'),
        peerVector('replica-get-reply-not-found', 'not found: flags 0, empty object', 21, { type: 'REPLICA_GET_REPLY', found: false, object: none }, 'REPLICA_GET'),
        peerVector('replica-put', 'a coordinated write\'s copy to a primary (no hint)', 22, replicaPut),
        peerVector('replica-put-hinted', 'a write to a fallback that must keep a hint for n3', 23, { ...replicaPut, partition: 0xffff, hintFor: 'n3' }),
        peerVector('replica-put-ack', 'the ACK of one REPLICA_PUT', 22, { type: 'ACK', count: 1 }, 'REPLICA_PUT'),
        peerVector('replica-put-batch', 'two items of hint delivery', 24, {
          type: 'REPLICA_PUT_BATCH',
          items: [{ partition: 1, key: text('a'), object: pattern(3, 0x10) }, { partition: 2, key: text('bb'), object: none }],
        }),
        peerVector('replica-put-batch-empty', 'an empty batch (valid, acknowledged with count 0)', 25, { type: 'REPLICA_PUT_BATCH', items: [] }),
        peerVector('replica-put-batch-ack', 'the ACK of the two-item batch', 24, { type: 'ACK', count: 2 }, 'REPLICA_PUT_BATCH'),
      ],
      invalid: [
        peerInvalid('replica-get-empty-key', 'REPLICA_GET with a zero-length key', 'request', 'KV_BAD_FRAME', 'key is empty', nodeFrame(0x40, false, 1, '00250000')),
        peerInvalid('replica-put-truncated-object', 'REPLICA_PUT whose object length says 12 but 11 bytes follow', 'request', 'KV_BAD_FRAME', 'object needs 12 bytes, 11 left',
          nodeFrame(0x41, false, 1, toHex(encodePeer(1, replicaPut)).slice(24, -2))),
        peerInvalid('replica-put-batch-count', 'REPLICA_PUT_BATCH claiming 65535 items in an otherwise empty body', 'request', 'KV_BAD_FRAME', 'items needs 589815 bytes, 0 left',
          nodeFrame(0x42, false, 1, 'ffff')),
        peerInvalid('replica-get-reply-reserved-flag', 'REPLICA_GET_REPLY with flag bit 1 set', 'reply', 'KV_BAD_FRAME', 'get reply flags: reserved bits set',
          nodeFrame(0x40, true, 1, '0200000000'), 'REPLICA_GET'),
        peerInvalid('replica-get-reply-not-found-object', 'not found, yet an object follows', 'reply', 'KV_BAD_FRAME', 'a not-found reply carries an object',
          nodeFrame(0x40, true, 1, '000000000178'), 'REPLICA_GET'),
        peerInvalid('ack-trailing-byte', 'an ACK with one byte after the count', 'reply', 'KV_BAD_FRAME', '1 trailing bytes after the body',
          nodeFrame(0x41, true, 1, '0000000100'), 'REPLICA_PUT'),
        peerInvalid('ack-wrong-opcode', 'an ACK on opcode 0x42 for a REPLICA_PUT sent on that stream', 'reply', 'KV_BAD_FRAME', 'reply on opcode 0x42 (REPLICA_PUT_BATCH) to a REPLICA_PUT',
          nodeFrame(0x42, true, 1, '00000001'), 'REPLICA_PUT'),
        peerInvalid('unknown-node-request', 'request opcode 0x45 (unassigned node opcode): answered on its stream, connection stays open', 'request', 'KV_UNSUPPORTED',
          'node opcode 0x45 not supported', nodeFrame(0x45, false, 1, '')),
        peerInvalid('unknown-node-reply', 'a reply on opcode 0x45 (nobody asked)', 'reply', 'KV_BAD_FRAME', 'reply with unknown node opcode 0x45', nodeFrame(0x45, true, 1, '')),
      ],
    },
    'peer_forward.json': {
      description: 'FORWARD (0x43) / FORWARD_REPLY: a client operation handed to a node that can coordinate it, and the client-visible result.',
      vectors: [
        peerVector('forward-get', 'a get with the default quorum and timeout', 31, { type: 'FORWARD', op: 'get', key, value: none, context: none, quorum: 0, timeoutMs: 0 }),
        peerVector('forward-put', 'a put with a context, w = 2, timeoutMs = 1000', 32, {
          type: 'FORWARD', op: 'put', key, value: text('{"cart":["apple"]}'), context: pattern(8, 0xa0), quorum: 2, timeoutMs: 1000,
        }),
        peerVector('forward-delete', 'a delete with a context, w = 3, timeoutMs = 60000', 33, { type: 'FORWARD', op: 'delete', key, value: none, context: pattern(8, 0xa0), quorum: 3, timeoutMs: 60000 }),
        peerVector('forward-reply', 'found, two siblings, one a tombstone', 31, {
          type: 'FORWARD_REPLY', found: true, context: pattern(8, 0xb0), siblings: [{ value: text('a'), tombstone: false }, { value: none, tombstone: true }],
        }, 'FORWARD'),
        peerVector('forward-reply-not-found', 'not found: no siblings, empty context (also a put\'s or delete\'s answer with no context)', 32, {
          type: 'FORWARD_REPLY', found: false, context: none, siblings: [],
        }, 'FORWARD'),
      ],
      invalid: [
        peerInvalid('forward-op-4', 'FORWARD with op byte 4', 'request', 'KV_BAD_FRAME', 'forward op 4 unknown', nodeFrame(0x43, false, 1, '04000000000000016b0000000000000000')),
        peerInvalid('forward-get-value', 'a forwarded get carrying a value', 'request', 'KV_BAD_FRAME', 'a forwarded get carries a value', nodeFrame(0x43, false, 1, '01000000000000016b000000000000000178')),
        peerInvalid('forward-reply-sibling-count', 'FORWARD_REPLY claiming 65535 siblings in an empty rest', 'reply', 'KV_BAD_FRAME', 'siblings needs 327675 bytes, 0 left',
          nodeFrame(0x43, true, 1, '0000000000ffff'), 'FORWARD'),
      ],
    },
    'peer_gossip.json': {
      description: 'GOSSIP (0x44) / GOSSIP_REPLY: membership entries (id, address, status, incarnation, heartbeat, claimVersion, weight).',
      vectors: [
        peerVector('gossip', 'two entries: n1 up, n2 seen down with weight 1.5', 41, gossip),
        peerVector('gossip-empty', 'no entries', 42, { type: 'GOSSIP', entries: [] }),
        peerVector('gossip-reply', 'every status once, the largest counters', 41, {
          type: 'GOSSIP_REPLY',
          entries: [
            entry('n1', '', 'joining', 0, 0, 0, 1),
            entry('n2', 'h:1', 'up', Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 0.25),
            entry('n3', 'h:2', 'leaving', 2, 3, 4, 2),
            entry('nœud-4', 'h:3', 'down', 5, 6, 7, 1),
            entry('n5', 'h:4', 'removed', 8, 9, 10, 1),
          ],
        }, 'GOSSIP'),
      ],
      invalid: [
        peerInvalid('gossip-status-5', 'an entry with status byte 5', 'request', 'KV_BAD_FRAME', 'entry status 5 unknown', nodeFrame(0x44, false, 1, emptyEntryBody('05' + counters + one))),
        peerInvalid('gossip-empty-id', 'an entry with an empty id', 'request', 'KV_BAD_FRAME', 'entry id is empty', nodeFrame(0x44, false, 1, '0001' + '0000' + '000178' + '01' + counters + one)),
        peerInvalid('gossip-weight-0', 'an entry with weight 0', 'request', 'KV_BAD_FRAME', 'weight 0 is not a positive finite number',
          nodeFrame(0x44, false, 1, emptyEntryBody('01' + counters + '0000000000000000'))),
        peerInvalid('gossip-weight-nan', 'an entry with weight NaN', 'request', 'KV_BAD_FRAME', 'weight NaN is not a positive finite number',
          nodeFrame(0x44, false, 1, emptyEntryBody('01' + counters + '7ff8000000000000'))),
        peerInvalid('gossip-heartbeat-2^53', 'a heartbeat of 2^53, past what a JS number holds exactly', 'request', 'KV_BAD_FRAME', 'heartbeat above 2^53-1',
          nodeFrame(0x44, false, 1, emptyEntryBody('01' + '0000000000000000' + '0020000000000000' + '0000000000000000' + one))),
        peerInvalid('gossip-reply-count', 'GOSSIP_REPLY claiming 2 entries, holding 1', 'reply', 'KV_BAD_FRAME', 'entries needs 76 bytes, 39 left',
          nodeFrame(0x44, true, 1, '0002' + emptyEntryBody('01' + counters + one).slice(4)), 'GOSSIP'),
      ],
    },
    'peer_membership.json': {
      description: 'Issue 6 (§15): RING_EXCHANGE (0x48) / RING_EXCHANGE_REPLY, TRANSFER_FETCH (0x49) / TRANSFER_CHUNK, ADMIN (0x4a) / ACK.',
      vectors: [
        peerVector('ring-exchange', 'a settled cluster ring: epoch 1 by n1 over n1, n2 (Q = 2)', 51, { type: 'RING_EXCHANGE', ring: clusterRing }),
        peerVector('ring-exchange-reply', 'the receiver\'s merged ring (the same value)', 51, { type: 'RING_EXCHANGE_REPLY', ring: clusterRing }, 'RING_EXCHANGE'),
        peerVector('transfer-fetch-first', 'the first chunk of partition 5: empty cursor, up to 512 keys or 1 MiB', 52, { type: 'TRANSFER_FETCH', partition: 5, after: none, maxItems: 512, maxBytes: 1048576 }),
        peerVector('transfer-fetch-resume', 'a resumed transfer: keys after "user:42"', 53, { type: 'TRANSFER_FETCH', partition: 5, after: key, maxItems: 512, maxBytes: 1048576 }),
        peerVector('transfer-chunk', 'one item, the last of the partition (3 keys in all), with its checksum', 52, {
          type: 'TRANSFER_CHUNK', last: true, keysTotal: 3, checksum: chunkChecksum([{ key, object }]), items: [{ key, object }],
        }, 'TRANSFER_FETCH'),
        peerVector('transfer-chunk-empty', 'an empty partition: no items, last', 54, { type: 'TRANSFER_CHUNK', last: true, keysTotal: 0, checksum: chunkChecksum([]), items: [] }, 'TRANSFER_FETCH'),
        peerVector('admin-leave', 'the receiving node leaves the ring', 55, { type: 'ADMIN', op: 'leave', node: '' }),
        peerVector('admin-remove', 'n3 (down for good) is removed', 56, { type: 'ADMIN', op: 'remove', node: 'n3' }),
        peerVector('admin-ack', 'the ACK of an ADMIN', 56, { type: 'ACK', count: 1 }, 'ADMIN'),
      ],
      invalid: [
        peerInvalid('admin-op-3', 'ADMIN with op byte 3', 'request', 'KV_BAD_FRAME', 'admin op 3 unknown', nodeFrame(0x4a, false, 1, '030000')),
        peerInvalid('transfer-chunk-flag', 'TRANSFER_CHUNK with flag bit 1 set', 'reply', 'KV_BAD_FRAME', 'chunk flags: reserved bits set',
          nodeFrame(0x49, true, 1, '02' + '00000000' + '811c9dc5' + '0000'), 'TRANSFER_FETCH'),
      ],
    },
    'peer_error.json': {
      description: 'PEER_ERROR: a failed peer request, carried as an ordinary ERROR frame (0x02 + response flag) on the request\'s stream; retryable per §7.',
      vectors: [
        peerVector('peer-error-timeout', 'the replica timed out on its storage: retryable', 22, { type: 'PEER_ERROR', code: 'KV_TIMEOUT', message: 'storage write took too long' }, 'REPLICA_PUT'),
        peerVector('peer-error-io', 'a failed disk write: not retryable', 22, { type: 'PEER_ERROR', code: 'KV_IO_ERROR', message: 'fdatasync: EIO' }, 'REPLICA_PUT'),
      ],
      invalid: [],
    },
    'peer_aae.json': {
      description: 'Anti-entropy (§16): AAE_TREE (0x50) / AAE_TREE_REPLY, AAE_SEGMENTS (0x51) / AAE_SEGMENTS_REPLY, AAE_FETCH (0x52) / AAE_FETCH_REPLY, AAE_TOMB_CHECK (0x53) / AAE_TOMB_CHECK_REPLY, AAE_REAP (0x54) / ACK.',
      vectors: [
        peerVector('aae-tree-root', 'the root of partition 37\'s tree (1024 leaves, fan-out 32)', 51, { type: 'AAE_TREE', partition: 37, leafBits: 10, fanoutBits: 5, level: 0, indices: [0] }),
        peerVector('aae-tree-children', 'two nodes of level 1', 52, { type: 'AAE_TREE', partition: 37, leafBits: 10, fanoutBits: 5, level: 1, indices: [3, 17] }),
        peerVector('aae-tree-reply', 'the digests of the two nodes asked', 52, { type: 'AAE_TREE_REPLY', hi: [0x01234567, 0xffffffff], lo: [0x89abcdef, 0] }, 'AAE_TREE'),
        peerVector('aae-segments', 'the keys of segments 96 and 1000', 53, { type: 'AAE_SEGMENTS', partition: 37, leafBits: 10, fanoutBits: 5, segments: [96, 1000] }),
        peerVector('aae-segments-reply', 'two keys with their item hashes', 53, {
          type: 'AAE_SEGMENTS_REPLY',
          items: [{ key, hi: 0xdeadbeef, lo: 0x00c0ffee }, { key: text('b'), hi: 1, lo: 2 }],
        }, 'AAE_SEGMENTS'),
        peerVector('aae-fetch', 'the objects of two keys', 54, { type: 'AAE_FETCH', partition: 37, keys: [key, text('b')] }),
        peerVector('aae-fetch-reply', 'only the first key is held', 54, { type: 'AAE_FETCH_REPLY', items: [{ key, object }] }, 'AAE_FETCH'),
        peerVector('aae-tomb-check', 'how does your copy compare with this tombstone?', 55, { type: 'AAE_TOMB_CHECK', partition: 37, items: [{ key, object: pattern(5, 0x21) }] }),
        peerVector('aae-tomb-check-reply', 'every copy state once', 55, {
          type: 'AAE_TOMB_CHECK_REPLY',
          states: [
            { state: 'same', hi: 7, lo: 8 },
            { state: 'absent', hi: 0, lo: 0 },
            { state: 'older', hi: 9, lo: 10 },
            { state: 'other', hi: 11, lo: 12 },
            { state: 'hinted', hi: 13, lo: 14 },
          ],
        }, 'AAE_TOMB_CHECK'),
        peerVector('aae-reap', 'remove the key if its object still has this item hash', 56, { type: 'AAE_REAP', partition: 37, items: [{ key, hi: 7, lo: 8 }] }),
        peerVector('aae-reap-ack', 'one key removed', 56, { type: 'ACK', count: 1 }, 'AAE_REAP'),
      ],
      invalid: [
        peerInvalid('aae-tree-count', 'AAE_TREE claiming 2 indices, holding 1', 'request', 'KV_BAD_FRAME', 'indices needs 8 bytes, 4 left',
          nodeFrame(0x50, false, 1, '0025' + '0a' + '05' + '01' + '00000002' + '00000003')),
        peerInvalid('aae-tree-reply-huge', 'AAE_TREE_REPLY claiming 2^24 + 1 digests', 'reply', 'KV_BAD_FRAME', 'digests count 16777217 > 16777216',
          nodeFrame(0x50, true, 1, '01000001'), 'AAE_TREE'),
        peerInvalid('aae-tomb-state-5', 'AAE_TOMB_CHECK_REPLY with copy state 5', 'reply', 'KV_BAD_FRAME', 'copy state 5 unknown',
          nodeFrame(0x53, true, 1, '0001' + '05' + '0000000000000000'), 'AAE_TOMB_CHECK'),
      ],
    },
    'peer_ring.json': {
      description: 'RING_REPLY (0x21 + response flag) body: ringVersion u64, qBits u8, n u8, members list<{id, address}>, then 2^qBits u16 owner indexes.',
      vectors: [
        ringVector('ring-reply-3-nodes', 'Q = 8 striped over three nodes', 6, ring),
        ringVector('ring-reply-1-node', 'a fresh single node, Q = 2', 7, { ringVersion: 1n, qBits: 1, n: 3, members: [{ id: 'n1', address: '' }], owners: [0, 0] }),
      ],
      invalid: [
        peerInvalid('ring-qbits-0', 'qBits 0 (Q must be 2..4096)', 'ring', 'KV_BAD_FRAME', 'qBits 0 not in 1..12', ringFrame(ringHex.slice(0, 16) + '00' + ringHex.slice(18))),
        peerInvalid('ring-owner-out-of-range', 'partition 7 owned by member 3 of 3', 'ring', 'KV_BAD_FRAME', 'owner of partition 7 is member 3 of 3', ringFrame(ringHex.slice(0, -4) + '0003')),
        peerInvalid('ring-duplicate-member', 'member n1 listed twice', 'ring', 'KV_BAD_FRAME', 'member n1 listed twice',
          ringFrame('0000000000000001' + '01' + '03' + '0002' + '00026e310000' + '00026e310000' + '00000000')),
        peerInvalid('ring-owners-short', 'Q = 8 but 7 owners', 'ring', 'KV_BAD_FRAME', 'owners needs 16 bytes, 14 left', ringFrame(ringHex.slice(0, -4))),
      ],
    },
  };
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
