/**
 * The protocol's rules that are not byte layouts, as pure functions the node
 * and the client call: answering HELLO (PROTOCOL.md §5), building ERROR
 * frames from KvErrors (§7), and handing out stream ids (§9).
 */
import * as E from 'fp-ts/lib/Either.js';
import { KvError, type ErrorCode } from '../src/errors.js';
import type { ErrorMessage, Hello, HelloOk } from './messages.js';
import { CONNECTION_STREAM, MAX_U32, SUPPORTED_VERSIONS, type Limits, type RoleName } from './opcodes.js';

/** Codes whose failures may succeed when the same request is sent again. */
export const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['KV_TIMEOUT', 'KV_UNAVAILABLE', 'KV_OVERLOADED']);

/**
 * The ERROR message for `error` on `streamId` (0 = connection-level). The
 * wire message drops the `CODE: ` prefix KvError puts in its own message.
 */
export const errorMessage = (streamId: number, error: KvError, retryable = RETRYABLE_CODES.has(error.code)): ErrorMessage => {
  const prefix = `${error.code}: `;
  const text = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
  return { op: 'ERROR', streamId, code: error.code, message: text, retryable };
};

/** The highest version both sides speak, or null. */
export const chooseVersion = (minVersion: number, maxVersion: number, supported: readonly number[] = SUPPORTED_VERSIONS): number | null => {
  let best: number | null = null;
  for (const v of supported) if (v >= minVersion && v <= maxVersion && (best === null || v > best)) best = v;
  return best;
};

export interface AcceptorInfo {
  readonly nodeId: string;
  readonly limits: Limits;
  readonly ringVersion: bigint;
  readonly supportedVersions?: readonly number[];
  /**
   * The auth mechanism a HELLO of this role must name (§17); '' or absent =
   * no authentication, and then a HELLO naming any mechanism is refused.
   */
  readonly mechanismFor?: (role: RoleName) => string;
}

/**
 * The acceptor's answer to HELLO: HELLO_OK, or the ERROR (stream 0) to send
 * before closing. Pure: the caller sends the result and, on Left, closes.
 */
export const acceptHello = (hello: Hello, info: AcceptorInfo): E.Either<ErrorMessage, HelloOk> => {
  const fail = (code: ErrorCode, message: string): E.Either<ErrorMessage, HelloOk> =>
    E.left({ op: 'ERROR', streamId: CONNECTION_STREAM, code, message, retryable: false });
  const version = chooseVersion(hello.minVersion, hello.maxVersion, info.supportedVersions);
  if (version === null) {
    return fail('KV_UNSUPPORTED', `no common version: offered ${hello.minVersion}..${hello.maxVersion}, supported ${(info.supportedVersions ?? SUPPORTED_VERSIONS).join(',')}`);
  }
  const required = info.mechanismFor?.(hello.role) ?? '';
  if (hello.authMechanism !== required) {
    return fail(
      'KV_AUTH',
      required === ''
        ? `auth mechanism ${JSON.stringify(hello.authMechanism)} not supported`
        : `this node requires authentication (${required}) for role ${hello.role}`,
    );
  }
  if (hello.role === 'node' && hello.nodeId === '') return fail('KV_BAD_ARGUMENT', 'role node needs a nodeId');
  if (hello.role === 'client' && hello.nodeId !== '') return fail('KV_BAD_ARGUMENT', 'role client must not send a nodeId');
  const { maxFrameBytes, maxKeyBytes, maxValueBytes, maxInFlight } = info.limits;
  return E.right({
    op: 'HELLO_OK',
    streamId: CONNECTION_STREAM,
    version,
    nodeId: info.nodeId,
    maxFrameBytes: Math.min(maxFrameBytes, MAX_U32),
    maxKeyBytes,
    maxValueBytes,
    maxInFlight,
    ringVersion: info.ringVersion,
  });
};

/**
 * The first stream id from `from` on (1..2^32-1, wrapping, never 0) that
 * `inUse` does not claim. For requesters that already keep their pending
 * requests in a map: pass its `has`, and no second set is needed.
 * Terminates while fewer than 2^32-1 ids are in use.
 */
export const nextStreamId = (from: number, inUse: (id: number) => boolean): number => {
  let id = from >= 1 && from <= MAX_U32 ? from : 1;
  while (inUse(id)) id = id === MAX_U32 ? 1 : id + 1;
  return id;
};

/**
 * Stream ids for a requester: 1..2^32-1, never 0, never one still in use.
 * `acquire` returns undefined when `maxInFlight` ids are out (wait for a reply).
 */
export class StreamIds {
  private next = 1;
  private readonly inUse = new Set<number>();

  constructor(readonly maxInFlight: number) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new KvError('KV_BAD_ARGUMENT', 'maxInFlight must be a positive integer');
  }

  get inFlight(): number {
    return this.inUse.size;
  }

  acquire(): number | undefined {
    if (this.inUse.size >= this.maxInFlight) return undefined;
    const id = nextStreamId(this.next, (x) => this.inUse.has(x));
    this.next = id === MAX_U32 ? 1 : id + 1;
    this.inUse.add(id);
    return id;
  }

  /** Frees an id once its reply or ERROR arrived; false if it was not in use (an unasked-for response). */
  release(id: number): boolean {
    return this.inUse.delete(id);
  }

  isInUse(id: number): boolean {
    return this.inUse.has(id);
  }
}
