/**
 * The stable error codes, as data. They live in the core so that pure
 * modules (quorum outcomes) can name them without importing the shell;
 * src/errors.ts builds the KvError class on top of this list.
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
