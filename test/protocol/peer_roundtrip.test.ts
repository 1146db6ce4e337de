import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { KvError } from '../../src/errors.js';
import {
  FrameDecoder,
  FrameWriter,
  PeerOpcode,
  decodeFrame,
  decodeMessage,
  decodePeerReply,
  decodePeerRequest,
  decodeRingBody,
  encode,
  encodePeer,
  encodeRingBody,
  peerFromJson,
  peerToJson,
  peerToMessage,
  ringBodyOf,
  ringOwnerIds,
  ringToJson,
  type ErrorMessage,
  type Message,
  type NodeMessage,
  type PeerRequestType,
} from '../../protocol/index.js';
import type { PeerReply, PeerRequest } from '../../protocol/peer_messages.js';
import { check } from '../helpers/seed.js';
import { reply, request, ring, entry } from './peer_arbitraries.js';
import { throwsWithCode } from '../helpers/assert.js';

const none = new Uint8Array(0);
const k = Uint8Array.of(0x6b);

// Compared through the JSON form: decoded bytes are Buffer subarrays, generated ones plain Uint8Arrays.
const sameJson = (a: PeerRequest | PeerReply, b: PeerRequest | PeerReply): void =>
  assert.equal(JSON.stringify(peerToJson(a)), JSON.stringify(peerToJson(b)));

const message = (b: Uint8Array): Message => {
  const r = E.chain(decodeMessage)(decodeFrame(b));
  if (E.isLeft(r)) throw r.left;
  return r.right;
};

const asNode = (m: Message): NodeMessage => {
  assert.is(m.op, 'NODE');
  return m as NodeMessage;
};

const right = <A>(r: E.Either<KvError, A>): A => {
  if (E.isLeft(r)) throw new Error(`expected Right, got ${r.left.message}`);
  return r.right;
};

const leftCode = <A>(r: E.Either<KvError, A>): string => {
  assert.ok(E.isLeft(r), 'expected Left');
  return (r as E.Left<KvError>).left.code;
};

const throwsCode = throwsWithCode;

test('law: every request survives encodePeer → frame → decodeMessage → decodePeerRequest', () => {
  check(
    fc.property(request, fc.integer({ min: 1, max: 0xffffffff }), (q, streamId) => {
      const m = asNode(message(encodePeer(streamId, q)));
      assert.is(m.streamId, streamId);
      assert.is(m.response, false);
      assert.is(m.opcode, PeerOpcode[q.type]);
      sameJson(right(decodePeerRequest(m)), q);
    }),
    400,
  );
});

test('law: every reply survives the round trip on its request\'s opcode, PEER_ERROR as an ERROR frame', () => {
  check(
    fc.property(reply, fc.integer({ min: 1, max: 0xffffffff }), ({ reply: a, inReplyTo }, streamId) => {
      const m = message(encodePeer(streamId, a, inReplyTo));
      assert.is(m.streamId, streamId);
      if (a.type === 'PEER_ERROR') {
        assert.is(m.op, 'ERROR');
        assert.is((m as ErrorMessage).retryable, a.code === 'KV_TIMEOUT' || a.code === 'KV_UNAVAILABLE');
      } else {
        assert.is(asNode(m).opcode, PeerOpcode[inReplyTo]);
        assert.is(asNode(m).response, true);
      }
      sameJson(right(decodePeerReply(m as NodeMessage | ErrorMessage, inReplyTo)), a);
      sameJson(right(decodePeerReply(m as NodeMessage | ErrorMessage)), a);
    }),
    400,
  );
});

test('law: encodePeer(s, m, t) = encode(peerToMessage(s, m, t)) byte for byte', () => {
  check(
    fc.property(fc.oneof(request.map((q) => ({ msg: q as PeerRequest | PeerReply, inReplyTo: undefined as PeerRequestType | undefined })), reply.map((r) => ({ msg: r.reply as PeerRequest | PeerReply, inReplyTo: r.inReplyTo as PeerRequestType | undefined }))), fc.integer({ min: 1, max: 0xffffffff }), ({ msg, inReplyTo }, streamId) => {
      assert.equal(new Uint8Array(encodePeer(streamId, msg, inReplyTo)), new Uint8Array(encode(peerToMessage(streamId, msg, inReplyTo))));
    }),
    300,
  );
});

test('law: decodeRingBody(encodeRingBody(r)) = right(r)', () => {
  check(
    fc.property(ring, (r) => {
      const body = encodeRingBody(r);
      assert.equal(ringToJson(right(decodeRingBody(body))), ringToJson(r));
      // And through a RING_REPLY frame.
      const m = message(encode({ op: 'RING_REPLY', streamId: 9, body }));
      assert.is(m.op, 'RING_REPLY');
      if (m.op === 'RING_REPLY') assert.equal(ringToJson(right(decodeRingBody(m.body))), ringToJson(r));
    }),
    200,
  );
});

test('law: peerFromJson(peerToJson(m)) encodes to the same bytes', () => {
  check(
    fc.property(request, (q) => {
      const j = JSON.parse(JSON.stringify(peerToJson(q))) as Record<string, unknown>;
      assert.equal(new Uint8Array(encodePeer(3, peerFromJson(j))), new Uint8Array(encodePeer(3, q)));
    }),
    200,
  );
});

test('law: peer frames written by a FrameWriter and split anywhere decode to the messages written', () => {
  const item = fc.oneof(
    request.map((q) => ({ msg: q as PeerRequest | PeerReply, inReplyTo: undefined as PeerRequestType | undefined })),
    reply.map(({ reply: a, inReplyTo }) => ({ msg: a as PeerRequest | PeerReply, inReplyTo: inReplyTo as PeerRequestType | undefined })),
  );
  check(
    fc.property(fc.array(item, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 6 }), (items, cuts) => {
      const w = new FrameWriter({ slabBytes: 128 });
      items.forEach((it, i) => w.write(peerToMessage(i + 1, it.msg, it.inReplyTo)));
      const batch = w.take();
      const points = [...new Set(cuts.map((c) => c % (batch.length + 1)))].sort((a, b) => a - b);
      const d = new FrameDecoder();
      const got: (PeerRequest | PeerReply)[] = [];
      let from = 0;
      for (const p of [...points, batch.length]) {
        d.push(batch.subarray(from, p));
        from = p;
        for (let f = d.next(); f !== undefined; f = d.next()) {
          const m = right(decodeMessage(f));
          const it = items[m.streamId - 1]!;
          got.push(right<PeerRequest | PeerReply>(m.op === 'NODE' && !m.response ? decodePeerRequest(m) : decodePeerReply(m as NodeMessage | ErrorMessage, it.inReplyTo)));
        }
      }
      assert.is(got.length, items.length);
      got.forEach((g, i) => sameJson(g, items[i]!.msg));
    }),
    150,
  );
});

test('encoders refuse what they cannot encode with KV_BAD_ARGUMENT or KV_TOO_LARGE', () => {
  const gossip = (over: object): PeerRequest =>
    ({ type: 'GOSSIP', entries: [{ id: 'n1', address: 'a', status: 'up', incarnation: 0, heartbeat: 0, claimVersion: 0, weight: 1, ...over }] }) as PeerRequest;
  throwsCode(() => encodePeer(1, { type: 'REPLICA_GET', partition: 0, key: none }), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodePeer(1, { type: 'REPLICA_GET', partition: 65536, key: k }), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodePeer(1, { type: 'REPLICA_GET', partition: 0, key: new Uint8Array(65536) }), 'KV_TOO_LARGE');
  throwsCode(() => encodePeer(0, { type: 'REPLICA_GET', partition: 0, key: k }), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodePeer(1, gossip({ status: 'lost' })), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodePeer(1, gossip({ id: '' })), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodePeer(1, gossip({ weight: 0 })), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodePeer(1, gossip({ weight: NaN })), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodePeer(1, gossip({ heartbeat: 2 ** 53 })), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodePeer(1, gossip({ incarnation: -1 })), 'KV_BAD_ARGUMENT');
  const fwd = { type: 'FORWARD', op: 'get', key: k, value: none, context: none, quorum: 0, timeoutMs: 0 } as const;
  throwsCode(() => encodePeer(1, { ...fwd, value: k }), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodePeer(1, { ...fwd, context: k }), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodePeer(1, { ...fwd, op: 'delete', value: k }), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodePeer(1, { ...fwd, quorum: 256 }), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodePeer(1, { ...fwd, op: 'merge' as 'get' }), 'KV_BAD_ARGUMENT');
  const items = Array.from({ length: 65536 }, () => ({ partition: 0, key: k, object: none }));
  throwsCode(() => encodePeer(1, { type: 'REPLICA_PUT_BATCH', items }), 'KV_TOO_LARGE');
  assert.ok(encodePeer(1, { type: 'REPLICA_PUT_BATCH', items: items.slice(1) }).length > 65535 * 9);
  throwsCode(() => encodePeer(1, { type: 'ACK', count: 1 }), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodePeer(1, { type: 'ACK', count: 1 }, 'GOSSIP'), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodePeer(1, { type: 'REPLICA_GET', partition: 0, key: k }, 'REPLICA_GET'), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodePeer(1, { type: 'REPLICA_GET_REPLY', found: false, object: k }), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodePeer(1, { type: 'PEER_ERROR', code: '', message: 'x' }), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodePeer(1, { type: 'NOPE' } as unknown as PeerRequest), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodePeer(1, { type: 'toString' } as unknown as PeerRequest), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodePeer(1, { type: 'ACK', count: 1 }, 'constructor' as PeerRequestType), 'KV_BAD_ARGUMENT');
  const r = { ringVersion: 1n, qBits: 1, n: 3, members: [{ id: 'a', address: '' }], owners: [0, 0] };
  throwsCode(() => encodeRingBody({ ...r, owners: [0] }), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodeRingBody({ ...r, owners: [0, 1] }), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodeRingBody({ ...r, qBits: 0, owners: [0] }), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodeRingBody({ ...r, qBits: 13 }), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodeRingBody({ ...r, n: 0 }), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodeRingBody({ ...r, members: [] }), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodeRingBody({ ...r, members: [{ id: 'a', address: '' }, { id: 'a', address: 'x' }] }), 'KV_BAD_ARGUMENT');
  throwsCode(() => encodeRingBody({ ...r, ringVersion: 2n ** 64n }), 'KV_BAD_ARGUMENT');
});

test('ringBodyOf lists the distinct owners sorted by id and indexes them; ringOwnerIds inverts it', () => {
  const owners = ['n2', 'n1', 'n3', 'n2', 'n1', 'n3', 'n2', 'n1'];
  const body = ringBodyOf({ qBits: 3, owners }, 3, 77n, (id) => `h:${id.slice(1)}`);
  assert.equal(body.members, [{ id: 'n1', address: 'h:1' }, { id: 'n2', address: 'h:2' }, { id: 'n3', address: 'h:3' }]);
  assert.equal(body.owners, [1, 0, 2, 1, 0, 2, 1, 0]);
  assert.equal(ringOwnerIds(right(decodeRingBody(encodeRingBody(body)))), owners);
});

test('the largest ring (4096 partitions) round-trips', () => {
  const members = Array.from({ length: 300 }, (_, i) => ({ id: `n${i}`, address: `10.0.${i >> 8}.${i & 0xff}:7400` }));
  const r = { ringVersion: 0xffffffffffffffffn, qBits: 12, n: 3, members, owners: Array.from({ length: 4096 }, (_, p) => p % 300) };
  assert.equal(ringToJson(right(decodeRingBody(encodeRingBody(r)))), ringToJson(r));
});

test('a counter up to 2^53-1 round-trips; a larger u64 on the wire is KV_BAD_FRAME', () => {
  const e = fc.sample(entry, { seed: 1, numRuns: 1 })[0]!;
  const max = { type: 'GOSSIP' as const, entries: [{ ...e, heartbeat: Number.MAX_SAFE_INTEGER }] };
  const m = asNode(message(encodePeer(1, max)));
  sameJson(right(decodePeerRequest(m)), max);
  // The heartbeat's high word sits 8 + 8 bytes before the weight, which ends the body.
  const body = Buffer.from(m.body);
  const hi = body.length - 8 - 8 - 8 - 8;
  assert.is(body.readUInt32BE(hi + 8), 0x1fffff);
  body.writeUInt32BE(0x200000, hi + 8);
  assert.is(leftCode(decodePeerRequest({ ...m, body })), 'KV_BAD_FRAME');
});

test('decodePeerRequest: a reply is KV_BAD_FRAME, an unknown node opcode KV_UNSUPPORTED', () => {
  const body = encodePeer(1, { type: 'REPLICA_GET', partition: 1, key: k });
  const m = asNode(message(body));
  assert.is(leftCode(decodePeerRequest({ ...m, response: true })), 'KV_BAD_FRAME');
  assert.is(leftCode(decodePeerRequest({ ...m, opcode: 0x45 })), 'KV_UNSUPPORTED');
  assert.is(leftCode(decodePeerRequest({ ...m, opcode: 0x7f })), 'KV_UNSUPPORTED');
  assert.is(leftCode(decodePeerRequest({ ...m, opcode: 0x10 })), 'KV_BAD_FRAME');
});

test('decodePeerReply: a request, an unknown opcode or a reply to another request is KV_BAD_FRAME', () => {
  const m = asNode(message(encodePeer(1, { type: 'ACK', count: 2 }, 'REPLICA_PUT_BATCH')));
  assert.is(right(decodePeerReply(m, 'REPLICA_PUT_BATCH')).type, 'ACK');
  assert.is(leftCode(decodePeerReply(m, 'REPLICA_PUT')), 'KV_BAD_FRAME');
  assert.is(leftCode(decodePeerReply(m, 'GOSSIP')), 'KV_BAD_FRAME');
  assert.is(leftCode(decodePeerReply({ ...m, response: false })), 'KV_BAD_FRAME');
  assert.is(leftCode(decodePeerReply({ ...m, opcode: 0x50 })), 'KV_BAD_FRAME');
  // An unknown error code from a newer peer is kept as is.
  const err = right(decodePeerReply({ op: 'ERROR', streamId: 1, code: 'KV_SOMETHING_NEW', message: 'm', retryable: false }, 'GOSSIP'));
  assert.equal(err, { type: 'PEER_ERROR', code: 'KV_SOMETHING_NEW', message: 'm' });
});

test('decoders refuse semantic garbage in well-framed bodies with KV_BAD_FRAME', () => {
  const node = (opcode: number, response: boolean, hex: string): NodeMessage => ({ op: 'NODE', streamId: 1, opcode, response, body: Buffer.from(hex, 'hex') });
  // REPLICA_GET with an empty key.
  assert.is(leftCode(decodePeerRequest(node(0x40, false, '00010000'))), 'KV_BAD_FRAME');
  // FORWARD with op byte 4.
  assert.is(leftCode(decodePeerRequest(node(0x43, false, '0400000000000001' + '6b' + '00000000' + '00000000'))), 'KV_BAD_FRAME');
  // A forwarded get carrying a value.
  assert.is(leftCode(decodePeerRequest(node(0x43, false, '0100000000000001' + '6b' + '00000000' + '0000000178'))), 'KV_BAD_FRAME');
  // REPLICA_GET_REPLY: not found with an object; reserved flag bit.
  assert.is(leftCode(decodePeerReply(node(0x40, true, '000000000178'))), 'KV_BAD_FRAME');
  assert.is(leftCode(decodePeerReply(node(0x40, true, '0200000000'))), 'KV_BAD_FRAME');
  // ACK with trailing bytes.
  assert.is(leftCode(decodePeerReply(node(0x41, true, '0000000100'))), 'KV_BAD_FRAME');
  // A batch claiming 65535 items in an empty rest.
  assert.is(leftCode(decodePeerRequest(node(0x42, false, 'ffff'))), 'KV_BAD_FRAME');
  // RING body: qBits 0, 13; owner index past the members.
  assert.is(leftCode(decodeRingBody(Buffer.from('0000000000000001' + '00' + '03' + '0001' + '000161' + '0000', 'hex'))), 'KV_BAD_FRAME');
  assert.is(leftCode(decodeRingBody(Buffer.from('0000000000000001' + '0d' + '03' + '0001' + '000161' + '0000', 'hex'))), 'KV_BAD_FRAME');
  assert.is(leftCode(decodeRingBody(Buffer.from('0000000000000001' + '01' + '03' + '0001' + '000161' + '0000' + '0000' + '0001', 'hex'))), 'KV_BAD_FRAME');
  assert.ok(E.isRight(decodeRingBody(Buffer.from('0000000000000001' + '01' + '03' + '0001' + '000161' + '0000' + '0000' + '0000', 'hex'))));
});

test.run();
