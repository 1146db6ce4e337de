/**
 * Messages as JSON, the form the test vectors use: byte fields as lowercase
 * hex strings, `ringVersion` (u64) as a decimal string, everything else as is.
 */
import { KvError } from '../src/errors.js';
import type { Message, Sibling } from './messages.js';

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
    else if (k === 'stats') out[k] = (v as readonly { name: string; value: number }[]).map((s) => ({ name: s.name, value: s.value }));
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
    } else out[k] = v;
  }
  return out as unknown as Message;
};
