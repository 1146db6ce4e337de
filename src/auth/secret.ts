/**
 * A secret (a password, the cluster secret) wrapped so that it cannot leak by
 * accident: every way a value gets printed — template strings, JSON config
 * dumps, util.inspect, console.log — shows `[secret]`. Only `reveal()` gives
 * the bytes, and the few callers that need them (key derivation) call it.
 */
import { readFileSync } from 'node:fs';
import { timingSafeEqual, createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { KvError } from '../errors.js';

const REDACTED = '[secret]';

export class Secret {
  readonly #bytes: Buffer;

  constructor(value: string | Uint8Array) {
    this.#bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
  }

  /** The secret's bytes; callers must not log or send them. */
  reveal(): Buffer {
    return this.#bytes;
  }

  get length(): number {
    return this.#bytes.length;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

export const isSecret = (u: unknown): u is Secret => u instanceof Secret;

/**
 * Equality in time that depends on neither content nor where they differ:
 * both sides are hashed first so that even their lengths stay hidden.
 */
export const constantTimeEqual = (a: Uint8Array, b: Uint8Array): boolean => {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
};

/**
 * A secret from a file: its content without one trailing newline (what
 * `echo secret > file` adds). Refuses a file others may read, as ssh does,
 * because the secret would not be one.
 */
export const readSecretFile = (path: string, what: string): Secret => {
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch (e) {
    throw new KvError('KV_BAD_ARGUMENT', `${what} file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  let end = text.length;
  if (end > 0 && text[end - 1] === 0x0a) end--;
  if (end > 0 && text[end - 1] === 0x0d) end--;
  return new Secret(text.subarray(0, end));
};
