/**
 * Messages as JSON, the form the test vectors use: byte fields as lowercase
 * hex strings, `ringVersion` (u64) as a decimal string, f64 stat values as JSON
 * numbers except NaN, Infinity, -Infinity and -0 (strings), everything else as is.
 */
import { KvError } from '../src/errors.js';
import type { Message, Sibling, Stat } from './messages.js';

// JSON numbers cannot say NaN, ±Infinity or -0; those f64 values travel as these strings.
const SPECIAL_F64: ReadonlyMap<string, number> = new Map([['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity], ['-0', -0]]);
const f64ToJson = (v: number): number | string => (Number.isFinite(v) && !Object.is(v, -0) ? v : Object.is(v, -0) ? '-0' : String(v));
const f64FromJson = (v: number | string): number => {
  if (typeof v === 'number') return v;
  const special = SPECIAL_F64.get(v);
  if (special === undefined) throw new KvError('KV_BAD_ARGUMENT', `not an f64: ${v}`);
  return special;
};

export type JsonMessage = { readonly [field: string]: unknown };

/** Fields that hold bytes, in every message that has them. */
const BYTE_FIELDS: ReadonlySet<string> = new Set(['key', 'value', 'context', 'payload', 'authPayload', 'body']);

export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

export const fromHex = (s: string): Uint8Array => {
  if (typeof s !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(s)) throw new KvError('KV_BAD_ARGUMENT', `not hex: ${String(s).slice(0, 40)}`);
  return new Uint8Array(Buffer.from(s, 'hex'));
};

export const messageToJson = (m: Message): JsonMessage => {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) {
    if (v instanceof Uint8Array) out[k] = toHex(v);
    else if (typeof v === 'bigint') out[k] = v.toString();
    else if (k === 'siblings') out[k] = (v as readonly Sibling[]).map((s) => ({ value: toHex(s.value), tombstone: s.tombstone }));
    else if (k === 'stats') out[k] = (v as readonly Stat[]).map((s) => ({ name: s.name, value: f64ToJson(s.value) }));
    else out[k] = v;
  }
  return out;
};

/** The inverse of messageToJson; checks field shapes only as far as hex and bigint parsing need. */
export const messageFromJson = (j: JsonMessage): Message => {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(j)) {
    if (BYTE_FIELDS.has(k)) out[k] = fromHex(v as string);
    else if (k === 'ringVersion') out[k] = BigInt(v as string);
    else if (k === 'siblings') {
      out[k] = (v as readonly { value: string; tombstone: boolean }[]).map((s) => ({ value: fromHex(s.value), tombstone: s.tombstone }));
    } else if (k === 'stats') {
      out[k] = (v as readonly { name: string; value: number | string }[]).map((s) => ({ name: s.name, value: f64FromJson(s.value) }));
    } else out[k] = v;
  }
  return out as unknown as Message;
};
