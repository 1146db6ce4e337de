import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { KvError } from '../../src/errors.js';
import {
  FrameDecoder,
  NO_LIMITS,
  PeerOpcode,
  decodeFrame,
  decodeMessage,
  decodePeerReply,
  decodePeerRequest,
  decodeRingBody,
  encode,
  encodePeer,
  encodeRingBody,
  fromHex,
  peerFromJson,
  peerToJson,
  ringFromJson,
  ringToJson,
  toHex,
  type ErrorMessage,
  type Frame,
  type Message,
  type NodeMessage,
} from '../../protocol/index.js';
import type { PeerInvalidVector, PeerVector, PeerVectorFile } from '../../protocol/gen_vectors.js';
import type { PeerReply, PeerRequest } from '../../protocol/peer_messages.js';

const dir = new URL('../../protocol/vectors/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.startsWith('peer') && f.endsWith('.json')).sort();
const parsed = files.map((f) => ({ file: f, body: JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as PeerVectorFile }));
const valid: readonly (PeerVector & { readonly file: string })[] = parsed.flatMap(({ file, body }) => body.vectors.map((v) => ({ file, ...v })));
const invalid: readonly PeerInvalidVector[] = parsed.flatMap(({ body }) => body.invalid);

const frameMessage = (frame: Uint8Array): E.Either<KvError, Message> => E.chain((f: Frame) => decodeMessage(f, NO_LIMITS))(decodeFrame(frame));

/** What the typed decoder makes of one decoded frame: a peer message or a ring body, as JSON. */
const typed = (m: Message, v: { readonly inReplyTo?: string | undefined; readonly ring?: unknown }): E.Either<KvError, unknown> => {
  if (m.op === 'RING_REPLY') return E.map(ringToJson)(decodeRingBody(m.body));
  if (m.op === 'NODE' && !m.response) return E.map(peerToJson)(decodePeerRequest(m));
  return E.map(peerToJson)(decodePeerReply(m as NodeMessage | ErrorMessage, v.inReplyTo as PeerRequest['type'] | undefined));
};

test('the peer vectors cover every request, every reply and the ring body', () => {
  const types = new Set(valid.map((v) => (v.peer === undefined ? 'RING_BODY' : String(v.peer['type']))));
  for (const t of [...Object.keys(PeerOpcode), 'REPLICA_GET_REPLY', 'ACK', 'FORWARD_REPLY', 'GOSSIP_REPLY', 'AAE_TREE_REPLY', 'AAE_SEGMENTS_REPLY', 'AAE_FETCH_REPLY', 'AAE_TOMB_CHECK_REPLY', 'RING_EXCHANGE_REPLY', 'TRANSFER_CHUNK', 'PEER_ERROR', 'RING_BODY']) assert.ok(types.has(t), t);
  assert.ok(invalid.length >= 15);
  assert.equal(files, ['peer_aae.json', 'peer_error.json', 'peer_forward.json', 'peer_gossip.json', 'peer_membership.json', 'peer_replica.json', 'peer_ring.json']);
});

test('encoding each vector\'s typed message gives exactly its frame', () => {
  for (const v of valid) {
    const bytes =
      v.ring !== undefined
        ? encode({ op: 'RING_REPLY', streamId: Number(v.message['streamId']), body: encodeRingBody(ringFromJson(v.ring)) })
        : encodePeer(Number(v.message['streamId']), peerFromJson(v.peer!) as PeerRequest | PeerReply, v.inReplyTo);
    assert.is(toHex(bytes), v.frame, `${v.file} ${v.name}`);
  }
});

test('decoding each vector frame gives exactly its typed message', () => {
  for (const v of valid) {
    const m = frameMessage(fromHex(v.frame));
    assert.ok(E.isRight(m), v.name);
    if (E.isLeft(m)) continue;
    const r = typed(m.right, v);
    assert.ok(E.isRight(r), `${v.name}: ${E.isLeft(r) ? r.left.message : ''}`);
    if (E.isRight(r)) assert.equal(JSON.parse(JSON.stringify(r.right)), v.ring ?? v.peer, `${v.file} ${v.name}`);
  }
});

test('each vector decodes to the same typed message fed one byte at a time and split at every point', () => {
  for (const v of valid) {
    const bytes = fromHex(v.frame);
    const want = v.ring ?? v.peer;
    const decodeAll = (chunks: readonly Uint8Array[]): unknown[] => {
      const d = new FrameDecoder({ maxFrameBytes: NO_LIMITS.maxFrameBytes });
      const out: unknown[] = [];
      for (const c of chunks) {
        d.push(c);
        for (let f = d.next(); f !== undefined; f = d.next()) {
          const m = decodeMessage(f, NO_LIMITS);
          const r = E.isRight(m) ? typed(m.right, v) : m;
          out.push(E.isRight(r) ? JSON.parse(JSON.stringify(r.right)) : `left ${r.left.message}`);
        }
      }
      return out;
    };
    assert.equal(decodeAll(Array.from(bytes, (b) => Uint8Array.of(b))), [want], `${v.name} byte by byte`);
    for (let cut = 0; cut <= bytes.length; cut++) {
      assert.equal(decodeAll([bytes.subarray(0, cut), bytes.subarray(cut)]), [want], `${v.name} cut at ${cut}`);
    }
  }
});

test('each invalid peer vector passes the framing and is refused by its decoder with its code and reason', () => {
  for (const v of invalid) {
    const m = frameMessage(fromHex(v.frame));
    assert.ok(E.isRight(m), `${v.name} passes decodeMessage`);
    if (E.isLeft(m)) continue;
    let r: E.Either<KvError, unknown>;
    if (v.decoder === 'ring') {
      assert.is(m.right.op, 'RING_REPLY', v.name);
      r = decodeRingBody((m.right as { body: Uint8Array }).body);
    } else if (v.decoder === 'request') {
      assert.is(m.right.op, 'NODE', v.name);
      r = decodePeerRequest(m.right as NodeMessage);
    } else {
      r = decodePeerReply(m.right as NodeMessage, v.inReplyTo);
    }
    assert.ok(E.isLeft(r), `${v.name} decoded`);
    if (E.isLeft(r)) {
      assert.is(r.left.code, v.code, v.name);
      assert.is(r.left.message, `${v.code}: ${v.reason}`, v.name);
    }
  }
});

test('replies travel on their request\'s opcode with the response flag; PEER_ERROR as ERROR, retryable per code', () => {
  for (const v of valid) {
    if (v.peer === undefined) continue;
    const type = String(v.peer['type']);
    if (type === 'PEER_ERROR') {
      assert.is(v.message['op'], 'ERROR');
      assert.is(v.message['retryable'], v.peer['code'] === 'KV_TIMEOUT', v.name);
    } else if (type in PeerOpcode) {
      assert.equal([v.message['opcode'], v.message['response']], [PeerOpcode[type as keyof typeof PeerOpcode], false], v.name);
    } else {
      assert.equal([v.message['opcode'], v.message['response']], [PeerOpcode[v.inReplyTo!], true], v.name);
    }
  }
});

test.run();
