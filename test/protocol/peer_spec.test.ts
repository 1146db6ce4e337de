/**
 * A second, independent reading of PROTOCOL.md §14: the node-to-node body
 * tables written down as data and read with Buffer calls only (nothing from
 * protocol/). It must decode every peer vector to its typed message, so a
 * codec change that is not also a spec change fails here even after the
 * vectors were regenerated.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';

type Scalar = 'u8' | 'u16' | 'u32' | 'counter' | 'weight' | 'key' | 'bytes' | 'string' | 'flag' | 'forwardOp' | 'status' | 'u32list' | 'copyState' | 'bytes16' | 'adminOp';
type Field = readonly [name: string, type: Scalar | { readonly list: readonly Field[] } | { readonly list32: readonly Field[] }];

const item: readonly Field[] = [['partition', 'u16'], ['key', 'key'], ['object', 'bytes']];
const sibling: readonly Field[] = [['tombstone', 'flag'], ['value', 'bytes']];
const entry: readonly Field[] = [
  ['id', 'string'], ['address', 'string'], ['status', 'status'],
  ['incarnation', 'counter'], ['heartbeat', 'counter'], ['claimVersion', 'counter'], ['weight', 'weight'],
];

// §14, table by table: `opcode/response` -> [type, fields in order].
const layouts: Record<string, readonly [string, readonly Field[]]> = {
  '64/false': ['REPLICA_GET', [['partition', 'u16'], ['key', 'key']]],
  '64/true': ['REPLICA_GET_REPLY', [['found', 'flag'], ['object', 'bytes']]],
  '65/false': ['REPLICA_PUT', [['partition', 'u16'], ['key', 'key'], ['hintFor', 'string'], ['object', 'bytes']]],
  '65/true': ['ACK', [['count', 'u32']]],
  '66/false': ['REPLICA_PUT_BATCH', [['items', { list: item }]]],
  '66/true': ['ACK', [['count', 'u32']]],
  '67/false': ['FORWARD', [['op', 'forwardOp'], ['quorum', 'u8'], ['timeoutMs', 'u32'], ['key', 'key'], ['context', 'bytes'], ['value', 'bytes']]],
  '67/true': ['FORWARD_REPLY', [['found', 'flag'], ['context', 'bytes'], ['siblings', { list: sibling }]]],
  '68/false': ['GOSSIP', [['entries', { list: entry }]]],
  '68/true': ['GOSSIP_REPLY', [['entries', { list: entry }]]],
  // §15 (issue 6).
  '72/false': ['RING_EXCHANGE', [['ring', 'bytes']]],
  '72/true': ['RING_EXCHANGE_REPLY', [['ring', 'bytes']]],
  '73/false': ['TRANSFER_FETCH', [['partition', 'u16'], ['after', 'bytes16'], ['maxItems', 'u16'], ['maxBytes', 'u32']]],
  '73/true': ['TRANSFER_CHUNK', [['last', 'flag'], ['keysTotal', 'u32'], ['checksum', 'u32'], ['items', { list: [['key', 'key'], ['object', 'bytes']] }]]],
  '74/false': ['ADMIN', [['op', 'adminOp'], ['node', 'string']]],
  '74/true': ['ACK', [['count', 'u32']]],
};
// §16 (anti-entropy).
const aaeItem: readonly Field[] = [['key', 'key'], ['hi', 'u32'], ['lo', 'u32']];
const aaeObject: readonly Field[] = [['key', 'key'], ['object', 'bytes']];
layouts['80/false'] = ['AAE_TREE', [['partition', 'u16'], ['leafBits', 'u8'], ['fanoutBits', 'u8'], ['level', 'u8'], ['indices', 'u32list']]];
layouts['81/false'] = ['AAE_SEGMENTS', [['partition', 'u16'], ['leafBits', 'u8'], ['fanoutBits', 'u8'], ['segments', 'u32list']]];
layouts['81/true'] = ['AAE_SEGMENTS_REPLY', [['items', { list32: aaeItem }]]];
layouts['82/false'] = ['AAE_FETCH', [['partition', 'u16'], ['keys', { list: [['key', 'key']] }]]];
layouts['82/true'] = ['AAE_FETCH_REPLY', [['items', { list: aaeObject }]]];
layouts['83/false'] = ['AAE_TOMB_CHECK', [['partition', 'u16'], ['items', { list: aaeObject }]]];
layouts['83/true'] = ['AAE_TOMB_CHECK_REPLY', [['states', { list: [['state', 'copyState'], ['hi', 'u32'], ['lo', 'u32']] }]]];
layouts['84/false'] = ['AAE_REAP', [['partition', 'u16'], ['items', { list: aaeItem }]]];
layouts['84/true'] = ['ACK', [['count', 'u32']]];
const COPY_STATE = ['same', 'absent', 'older', 'other', 'hinted'];
const ADMIN_OP = [undefined, 'leave', 'remove'];
const STATUS = ['joining', 'up', 'leaving', 'down', 'removed'];
const FORWARD_OP = [undefined, 'get', 'put', 'delete'];

class Cursor {
  at: number;
  constructor(readonly b: Buffer, at: number) {
    this.at = at;
  }
  take(n: number): Buffer {
    const s = this.b.subarray(this.at, this.at + n);
    assert.is(s.length, n, 'count within the body');
    this.at += n;
    return s;
  }
  u8 = (): number => this.take(1)[0]!;
  u16 = (): number => this.take(2).readUInt16BE(0);
  u32 = (): number => this.take(4).readUInt32BE(0);
  u64 = (): bigint => this.take(8).readBigUInt64BE(0);
}

const readFields = (c: Cursor, fields: readonly Field[]): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  for (const [name, type] of fields) {
    if (typeof type === 'object') {
      const n = 'list' in type ? c.u16() : c.u32();
      const fields = 'list' in type ? type.list : type.list32;
      const items = Array.from({ length: n }, () => readFields(c, fields));
      // A list of bare keys is a list of keys, not of one-field records.
      out[name] = fields.length === 1 && fields[0]![0] === 'key' ? items.map((it) => it['key']) : items;
      continue;
    }
    switch (type) {
      case 'u8': out[name] = c.u8(); break;
      case 'u16': out[name] = c.u16(); break;
      case 'u32': out[name] = c.u32(); break;
      case 'counter': {
        const v = c.u64();
        assert.ok(v <= BigInt(Number.MAX_SAFE_INTEGER), 'counter within 2^53-1');
        out[name] = Number(v);
        break;
      }
      case 'weight': {
        const v = c.take(8).readDoubleBE(0);
        assert.ok(Number.isFinite(v) && v > 0, 'weight positive');
        out[name] = v;
        break;
      }
      case 'key': {
        const k = c.take(c.u16());
        assert.ok(k.length > 0, 'key non-empty');
        out[name] = k.toString('hex');
        break;
      }
      case 'bytes16': out[name] = c.take(c.u16()).toString('hex'); break;
      case 'bytes': out[name] = c.take(c.u32()).toString('hex'); break;
      case 'string': out[name] = c.take(c.u16()).toString('utf8'); break;
      case 'flag': {
        const f = c.u8();
        assert.ok(f <= 1, 'undefined flag bits zero');
        out[name] = f === 1;
        break;
      }
      case 'forwardOp': out[name] = FORWARD_OP[c.u8()]; break;
      case 'status': out[name] = STATUS[c.u8()]; break;
      case 'u32list': out[name] = Array.from({ length: c.u32() }, () => c.u32()); break;
      case 'copyState': out[name] = COPY_STATE[c.u8()]; break;
      case 'adminOp': out[name] = ADMIN_OP[c.u8()]; break;
    }
  }
  return out;
};

/** A whole frame to its typed peer message (or ring body), per §2, §7 and §14. */
const read = (b: Buffer): Record<string, unknown> => {
  assert.is(b.readUInt32BE(0), b.length - 4);
  const opcode = b[5]!;
  const response = b.readUInt16BE(6) === 1;
  const c = new Cursor(b, 12);
  let out: Record<string, unknown>;
  if (opcode === 0x02) {
    c.u8(); // retryable: derived from the code
    const code = c.take(c.u16()).toString('utf8');
    out = { type: 'PEER_ERROR', code, message: c.take(c.u16()).toString('utf8') };
  } else if (opcode === 0x21 && response) {
    const ringVersion = c.u64().toString();
    const qBits = c.u8();
    const n = c.u8();
    const members = readFields(c, [['members', { list: [['id', 'string'], ['address', 'string']] }]])['members'] as unknown[];
    const owners = Array.from({ length: 2 ** qBits }, () => c.u16());
    out = { ringVersion, qBits, n, members, owners };
  } else if (opcode === 0x50 && response) {
    // AAE_TREE_REPLY: a u32 count of (hi u32, lo u32) digests, typed as two parallel lists.
    const pairs = Array.from({ length: c.u32() }, () => [c.u32(), c.u32()] as const);
    out = { type: 'AAE_TREE_REPLY', hi: pairs.map((x) => x[0]), lo: pairs.map((x) => x[1]) };
  } else {
    const layout = layouts[`${opcode}/${response}`];
    assert.ok(layout !== undefined, `opcode ${opcode} in §14 or §16`);
    out = { type: layout![0], ...readFields(c, layout![1]) };
  }
  assert.is(c.at, b.length, 'body consumed exactly');
  return out;
};

const dir = new URL('../../protocol/vectors/', import.meta.url);
const vectors = readdirSync(dir)
  .filter((f) => f.startsWith('peer') && f.endsWith('.json'))
  .flatMap((f) => (JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as { vectors: { name: string; frame: string; peer?: object; ring?: object }[] }).vectors);

test('an independent reader of the §14 tables decodes every peer vector to its typed message', () => {
  assert.ok(vectors.length >= 20);
  for (const v of vectors) {
    const got = read(Buffer.from(v.frame, 'hex'));
    // Field order in the JSON is the generator's, not the wire's: compare sorted.
    const sorted = (o: object): string => JSON.stringify(o, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort()) : x));
    assert.is(sorted(got), sorted((v.ring ?? v.peer)!), v.name);
  }
});

test.run();
