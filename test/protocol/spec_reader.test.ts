/**
 * A second, independent reading of PROTOCOL.md: the body tables of §6 written
 * down as data, with a tiny interpreter built on Buffer's read/write calls
 * and nothing from protocol/. It must agree with every vector, so a change to
 * the codec that is not also a change to the spec (or the reverse) fails here
 * even after the vectors were regenerated.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';

type Field = readonly [name: string, type: 'u8' | 'u32' | 'u64' | 'key' | 'bytes' | 'string' | 'rest' | 'role' | 'flag' | 'siblings' | 'stats'];

// §6, table by table: [opcode, response] -> fields in order.
const layouts: Record<string, readonly [number, boolean, readonly Field[]]> = {
  HELLO: [0x01, false, [['minVersion', 'u8'], ['maxVersion', 'u8'], ['role', 'role'], ['clientName', 'string'], ['nodeId', 'string'], ['authMechanism', 'string'], ['authPayload', 'bytes']]],
  HELLO_OK: [0x01, true, [['version', 'u8'], ['maxFrameBytes', 'u32'], ['maxKeyBytes', 'u32'], ['maxValueBytes', 'u32'], ['maxInFlight', 'u32'], ['ringVersion', 'u64'], ['nodeId', 'string']]],
  ERROR: [0x02, true, [['retryable', 'flag'], ['code', 'string'], ['message', 'string']]],
  PING: [0x03, false, [['payload', 'bytes']]],
  PONG: [0x03, true, [['payload', 'bytes']]],
  AUTH: [0x04, false, [['payload', 'bytes']]],
  AUTH_REPLY: [0x04, true, [['payload', 'bytes']]],
  GET: [0x10, false, [['r', 'u8'], ['timeoutMs', 'u32'], ['key', 'key']]],
  GET_REPLY: [0x10, true, [['found', 'flag'], ['context', 'bytes'], ['siblings', 'siblings']]],
  PUT: [0x11, false, [['w', 'u8'], ['timeoutMs', 'u32'], ['key', 'key'], ['context', 'bytes'], ['value', 'bytes']]],
  PUT_REPLY: [0x11, true, [['context', 'bytes']]],
  DELETE: [0x12, false, [['w', 'u8'], ['timeoutMs', 'u32'], ['key', 'key'], ['context', 'bytes']]],
  DELETE_REPLY: [0x12, true, [['context', 'bytes']]],
  STATS: [0x20, false, []],
  STATS_REPLY: [0x20, true, [['stats', 'stats']]],
  RING: [0x21, false, [['body', 'rest']]],
  RING_REPLY: [0x21, true, [['body', 'rest']]],
};

const read = (b: Buffer): Record<string, unknown> => {
  assert.is(b.readUInt32BE(0), b.length - 4, 'length counts the bytes after the prefix');
  assert.is(b[4], 1, 'version');
  const opcode = b[5]!;
  const flags = b.readUInt16BE(6);
  assert.is(flags & 0xfffe, 0, 'reserved flags');
  const response = flags === 1;
  const out: Record<string, unknown> = {};
  let at = 12;
  const entry = Object.entries(layouts).find(([, [op, resp]]) => op === opcode && resp === response);
  if (entry === undefined) {
    assert.ok(opcode >= 0x40 && opcode <= 0x7f, 'node opcode');
    return { op: 'NODE', streamId: b.readUInt32BE(8), opcode, response, body: b.subarray(12).toString('hex') };
  }
  out['op'] = entry[0];
  out['streamId'] = b.readUInt32BE(8);
  const bytes = (n: number): string => {
    const s = b.subarray(at, at + n);
    assert.is(s.length, n, 'count within the body');
    at += n;
    return s.toString('hex');
  };
  const str = (): string => {
    const n = b.readUInt16BE(at);
    at += 2;
    return Buffer.from(bytes(n), 'hex').toString('utf8');
  };
  for (const [name, type] of entry[1][2]) {
    switch (type) {
      case 'u8': out[name] = b[at++]; break;
      case 'flag': out[name] = b[at++] === 1; break;
      case 'role': out[name] = ({ 1: 'client', 2: 'node' } as Record<number, string>)[b[at++]!]; break;
      case 'u32': out[name] = b.readUInt32BE(at); at += 4; break;
      case 'u64': out[name] = b.readBigUInt64BE(at).toString(); at += 8; break;
      case 'key': { const n = b.readUInt16BE(at); at += 2; out[name] = bytes(n); break; }
      case 'bytes': { const n = b.readUInt32BE(at); at += 4; out[name] = bytes(n); break; }
      case 'string': out[name] = str(); break;
      case 'rest': out[name] = bytes(b.length - at); break;
      case 'siblings': {
        const n = b.readUInt16BE(at);
        at += 2;
        out[name] = Array.from({ length: n }, () => {
          const tombstone = b[at++] === 1;
          const len = b.readUInt32BE(at);
          at += 4;
          return { value: bytes(len), tombstone };
        });
        break;
      }
      case 'stats': {
        const n = b.readUInt16BE(at);
        at += 2;
        out[name] = Array.from({ length: n }, () => {
          const s = str();
          const v = b.readDoubleBE(at);
          at += 8;
          return { name: s, value: v };
        });
        break;
      }
    }
  }
  assert.is(at, b.length, 'body consumed exactly');
  return out;
};

const dir = new URL('../../protocol/vectors/', import.meta.url);
const vectors = readdirSync(dir)
  .filter((f) => f.endsWith('.json') && f !== 'invalid.json')
  .flatMap((f) => (JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as { vectors: { name: string; message: Record<string, unknown>; frame: string }[] }).vectors);

test('an independent reader of the PROTOCOL.md tables decodes every vector to its message', () => {
  for (const v of vectors) {
    const got = read(Buffer.from(v.frame, 'hex'));
    // Field order in the JSON is the codec's, not the wire's: compare as sets of fields.
    assert.equal(Object.fromEntries(Object.entries(got).sort()), Object.fromEntries(Object.entries(v.message).sort()), v.name);
  }
});

test.run();
