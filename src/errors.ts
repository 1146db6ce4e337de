/**
 * Stable error codes. The same strings travel on the wire (error frames), in
 * the SDK's typed errors and out of the native addon, so a caller can switch
 * on `err.code` wherever the error came from.
 */
export const ErrorCodes = [
  'KV_BAD_ARGUMENT',
  'KV_BAD_FRAME',
  'KV_TOO_LARGE',
  'KV_UNSUPPORTED',
  'KV_TIMEOUT',
  'KV_UNAVAILABLE',
  'KV_OVERLOADED',
  'KV_NOT_FOUND',
  'KV_CONFLICT',
  'KV_AUTH',
  'KV_FORBIDDEN',
  'KV_IO_ERROR',
  'KV_CORRUPTION',
  'KV_CLOSED',
  'KV_ABORTED',
  'KV_INTERNAL',
] as const;

export type ErrorCode = (typeof ErrorCodes)[number];

const known: ReadonlySet<string> = new Set(ErrorCodes);

export const isErrorCode = (s: unknown): s is ErrorCode => typeof s === 'string' && known.has(s);

/** An error that carries one of the stable codes and, optionally, its cause. */
export class KvError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'KvError';
    this.code = code;
  }
}

export const isKvError = (e: unknown): e is KvError => e instanceof KvError;
