/**
 * Stable error codes. The same strings travel on the wire (error frames), in
 * the SDK's typed errors and out of the native addon, so a caller can switch
 * on `err.code` wherever the error came from.
 */
import { ErrorCodes, type ErrorCode } from './core/error_codes.js';

export { ErrorCodes };
export type { ErrorCode };

const known: ReadonlySet<string> = new Set(ErrorCodes);

export const isErrorCode = (s: unknown): s is ErrorCode => typeof s === 'string' && known.has(s);

/** An error that carries one of the stable codes and, optionally, its cause. */
export class KvError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    // A message that already carries the code (re-wrapped errors) is not prefixed twice.
    super(message.startsWith(`${code}: `) ? message : `${code}: ${message}`, options);
    this.name = 'KvError';
    this.code = code;
  }
}

export const isKvError = (e: unknown): e is KvError => e instanceof KvError;
