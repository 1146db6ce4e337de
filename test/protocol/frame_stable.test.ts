/**
 * The cluster decodes received objects with their values as views of the
 * frame (coordinator replies, replica writes: no copy per object). That is
 * only sound while a frame the decoder handed out keeps its bytes: the
 * decoder must never write into a chunk it was given, nor into a buffer that
 * backs an earlier frame (a partial frame is assembled in a buffer of its
 * own).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { FrameDecoder, encode, type Message } from '../../protocol/index.js';
import { check } from '../helpers/seed.js';

const arbPut = fc.record({
  streamId: fc.integer({ min: 1, max: 1000 }),
  key: fc.uint8Array({ minLength: 1, maxLength: 40 }),
  value: fc.uint8Array({ maxLength: 300 }),
});

test('frames handed out keep their bytes while later chunks arrive, whatever the split', () =>
  check(
    fc.property(fc.array(arbPut, { minLength: 1, maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 40 }), (puts, cuts) => {
      const messages: Message[] = puts.map((p) => ({ op: 'PUT', streamId: p.streamId, key: p.key, value: p.value, context: new Uint8Array(0), w: 0, timeoutMs: 0 }) as Message);
      const stream = Buffer.concat(messages.map((m) => encode(m)));
      const d = new FrameDecoder();
      const held: { readonly bytes: Uint8Array; readonly snapshot: string }[] = [];
      let at = 0;
      let i = 0;
      while (at < stream.length) {
        const size = cuts[i++ % cuts.length]!;
        // A fresh chunk each time, as a socket hands them out.
        d.push(Buffer.from(stream.subarray(at, at + size)));
        at += size;
        for (let f = d.next(); f !== undefined; f = d.next()) held.push({ bytes: f.bytes, snapshot: Buffer.from(f.bytes).toString('hex') });
      }
      assert.is(held.length, messages.length);
      held.forEach((h, k) => {
        assert.is(Buffer.from(h.bytes).toString('hex'), h.snapshot, `frame ${k} changed after later pushes`);
        assert.is(h.snapshot, Buffer.from(encode(messages[k]!)).toString('hex'));
      });
    }),
    200,
  ));

test.run();
