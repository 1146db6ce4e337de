import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { KvError } from '../../src/errors.js';
import {
  FrameDecoder,
  PeerOpcode,
  decodeMessage,
  encodePeer,
  decodePeerReply,
  decodePeerRequest,
  decodeRingBody,
  encodePeerBody,
  encodeRingBody,
  type NodeMessage,
  type PeerRequestType,
} from '../../protocol/index.js';
import type { PeerReply, PeerRequest } from '../../protocol/peer_messages.js';
import { check } from '../helpers/seed.js';
import { reply, request, ring } from './peer_arbitraries.js';
import type { ErrorMessage } from '../../protocol/index.js';

const REQUEST_OF: ReadonlyMap<number, PeerRequestType> = new Map(Object.entries(PeerOpcode).map(([t, o]) => [o, t as PeerRequestType]));

/** A mutation of a byte string: overwrite, cut, insert, or write a huge u16/u32 count somewhere. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('u16' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0x7fff, 0xffff) }),
  fc.record({ kind: fc.constant('u32' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

const mutate = (body: Uint8Array, ms: readonly Mutation[]): Uint8Array => {
  let b = Buffer.from(body);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    if (m.kind === 'set' && at < b.length) b[at] = m.byte;
    else if (m.kind === 'cut') b = b.subarray(0, at);
    else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.of(m.byte), b.subarray(at)]);
    else if (m.kind === 'u16' && at + 2 <= b.length) b.writeUInt16BE(m.value, at);
    else if (m.kind === 'u32' && at + 4 <= b.length) b.writeUInt32BE(m.value, at);
  }
  return b;
};

const node = (opcode: number, response: boolean, body: Uint8Array): NodeMessage => ({ op: 'NODE', streamId: 1, opcode, response, body });

/**
 * Decodes `body` as a request and as a reply on `opcode`: neither may throw,
 * a Left is a KvError with a code a receiver acts on, and a Right re-encodes
 * to exactly `body` (one encoding per message, so no two peers disagree).
 */
const probe = (opcode: number, body: Uint8Array): void => {
  for (const response of [false, true]) {
    const m = node(opcode, response, body);
    let r: E.Either<KvError, PeerRequest | PeerReply>;
    try {
      r = response ? decodePeerReply(m, REQUEST_OF.get(opcode)) : decodePeerRequest(m);
    } catch (e) {
      throw new Error(`decoder threw on opcode 0x${opcode.toString(16)} body ${Buffer.from(body).toString('hex')}: ${String(e)}`);
    }
    if (E.isLeft(r)) {
      assert.ok(r.left instanceof KvError);
      assert.ok(r.left.code === 'KV_BAD_FRAME' || r.left.code === 'KV_UNSUPPORTED', r.left.message);
      if (r.left.code === 'KV_UNSUPPORTED') assert.ok(!response && !REQUEST_OF.has(opcode));
    } else {
      assert.equal(new Uint8Array(encodePeerBody(r.right)), new Uint8Array(body), `re-encode of ${r.right.type}`);
    }
  }
};

const probeRing = (body: Uint8Array): void => {
  const r = decodeRingBody(body);
  if (E.isLeft(r)) assert.is(r.left.code, 'KV_BAD_FRAME');
  else assert.equal(new Uint8Array(encodeRingBody(r.right)), new Uint8Array(body));
};

const opcode = fc.integer({ min: 0x40, max: 0x47 });

test('random bodies on every peer opcode: no throw, KvError lefts, rights re-encode to the same bytes', () => {
  check(
    fc.property(opcode, fc.uint8Array({ maxLength: 80 }), (op, body) => {
      probe(op, body);
      probeRing(body);
    }),
    3000,
  );
});

test('mutated valid requests: no throw, KvError lefts, rights re-encode to the same bytes', () => {
  check(
    fc.property(request, fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), (q, ms, otherOpcode) => {
      const body = mutate(encodePeerBody(q), ms);
      probe(otherOpcode ? (PeerOpcode[q.type] + 1 - 0x40) % 5 + 0x40 : PeerOpcode[q.type], body);
    }),
    2000,
  );
});

test('mutated valid replies: no throw, KvError lefts, rights re-encode to the same bytes', () => {
  check(
    fc.property(reply, fc.array(mutation, { minLength: 1, maxLength: 4 }), ({ reply: a, inReplyTo }, ms) => {
      if (a.type === 'PEER_ERROR') return;
      probe(PeerOpcode[inReplyTo], mutate(encodePeerBody(a), ms));
    }),
    2000,
  );
});

test('mutated ring bodies: no throw, KV_BAD_FRAME lefts, rights re-encode to the same bytes', () => {
  check(
    fc.property(ring, fc.array(mutation, { minLength: 1, maxLength: 4 }), (r, ms) => probeRing(mutate(encodeRingBody(r), ms))),
    1000,
  );
});

test('mutated whole peer frames fed in random chunks: only KvErrors, from the frame decoder or as Lefts', () => {
  const item = fc.oneof(
    request.map((q) => ({ msg: q as PeerRequest | PeerReply, inReplyTo: undefined as PeerRequestType | undefined })),
    reply.map((r) => ({ msg: r.reply as PeerRequest | PeerReply, inReplyTo: r.inReplyTo as PeerRequestType | undefined })),
  );
  check(
    fc.property(fc.array(item, { minLength: 1, maxLength: 4 }), fc.array(mutation, { maxLength: 3 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }), (items, ms, chunks) => {
      const bytes = mutate(Buffer.concat(items.map((it, i) => encodePeer(i + 1, it.msg, it.inReplyTo))), ms);
      const d = new FrameDecoder({ maxFrameBytes: 1 << 20 });
      let at = 0;
      try {
        for (let i = 0; at < bytes.length; i++) {
          const n = chunks[i % chunks.length]!;
          d.push(bytes.subarray(at, at + n));
          at += n;
          for (let f = d.next(); f !== undefined; f = d.next()) {
            const m = decodeMessage(f);
            if (E.isLeft(m)) continue;
            const msg = m.right;
            if (msg.op === 'NODE' && !msg.response) decodePeerRequest(msg);
            else if (msg.op === 'NODE' || msg.op === 'ERROR') decodePeerReply(msg as NodeMessage | ErrorMessage, REQUEST_OF.get(msg.op === 'NODE' ? msg.opcode : -1));
          }
        }
      } catch (e) {
        // The frame decoder throws KvError on a bad header (documented); nothing else may throw.
        assert.ok(e instanceof KvError, String(e));
      }
    }),
    1000,
  );
});

test('decoders given things that are not messages answer KV_BAD_FRAME instead of throwing', () => {
  const junk: unknown[] = [null, undefined, 1, 'x', {}, { op: 'NODE', opcode: 0x40, response: false, body: 'not bytes' }, { op: 'GET' }];
  for (const j of junk) {
    const a = decodePeerRequest(j as NodeMessage);
    const b = decodePeerReply(j as NodeMessage);
    assert.ok(E.isLeft(a) && a.left.code === 'KV_BAD_FRAME', String(j));
    assert.ok(E.isLeft(b) && b.left.code === 'KV_BAD_FRAME', String(j));
  }
  const c = decodeRingBody('nope' as unknown as Uint8Array);
  assert.ok(E.isLeft(c) && c.left.code === 'KV_BAD_FRAME');
});

test.run();
