/**
 * The SDK's typed error: a KvError (stable `code`, optional `cause`) that also
 * says which node answered and whether the request may be sent again.
 */
import { KvError, type ErrorCode } from '../errors.js';

export class ClientError extends KvError {
  /** The node that answered or failed (`host:port`), when known. */
  readonly node: string | undefined;
  /**
   * True when the request was never written to a socket (or the node refused
   * it without executing it, e.g. KV_OVERLOADED), so sending it again cannot
   * apply it twice.
   */
  readonly safeToRetry: boolean;
  /** The server marked the error retryable (e.g. KV_TIMEOUT, KV_UNAVAILABLE). */
  readonly retryable: boolean;

  constructor(
    code: ErrorCode,
    message: string,
    options: { node?: string; safeToRetry?: boolean; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(code, message, { cause: options.cause });
    this.name = 'ClientError';
    this.node = options.node;
    this.safeToRetry = options.safeToRetry ?? false;
    this.retryable = options.retryable ?? false;
  }
}
