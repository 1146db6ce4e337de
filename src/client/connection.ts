/**
 * One multiplexed connection to one node: many requests in flight, each with
 * its own stream id; replies may come in any order. Requests made in the same
 * tick are coalesced into one `socket.write`.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import * as E from 'fp-ts/lib/Either.js';
import {
  CONNECTION_STREAM,
  FrameDecoder,
  FrameWriter,
  PIPELINE_FRAMES,
  PROTOCOL_VERSION,
  decodeMessage,
  toKvError,
  type HelloOk,
  type Message,
  type Reply,
  nextStreamId,
} from '../../protocol/index.js';
import { isKvError } from '../errors.js';
import type { InitiatorAuth } from '../auth/initiator.js';
import { ClientError } from './errors.js';
import { describeTlsError, isCertificateError, tlsConnectOptions, type ClientTlsOptions } from './tls.js';

/** A request without its stream id: the connection assigns one. */
export type Outgoing = Message extends infer M ? (M extends { streamId: number } ? Omit<M, 'streamId'> : never) : never;

interface Pending {
  readonly resolve: (v: unknown) => void;
  /** Turns the reply into what the caller wants, in the same step (no extra promise); undefined: the reply itself. */
  readonly convert: ((r: Reply) => unknown) | undefined;
  readonly reject: (e: ClientError) => void;
  /** The request, kept only when it may be retried (`ConnectionOptions.retry`). */
  readonly msg: Message | undefined;
  /** Order of encoding on this connection: written once `flushedSeq` reaches it. */
  seq: number;
  /** Date.now() after which the request times out. */
  readonly deadlineMs: number;
  readonly timeoutMs: number;
  abort: (() => void) | undefined;
  signal: AbortSignal | undefined;
}

/**
 * How often pending requests are checked for timeouts. One periodic sweep per
 * connection replaces a timer per request (a setTimeout and a clearTimeout
 * per request were a visible share of the client's CPU); the price is that a
 * request times out up to this much after its deadline.
 */
export const TIMEOUT_SWEEP_MS = 10;

export interface ConnectionOptions {
  readonly host: string;
  readonly port: number;
  readonly clientName: string;
  readonly connectTimeoutMs: number;
  /** Largest reply frame accepted. */
  readonly maxFrameBytes: number;
  /** A fresh authentication exchange per connection (issue #9); absent: none. */
  readonly auth?: () => InitiatorAuth;
  /**
   * Called when a request made with `retry` fails: a promise for the answer
   * of another attempt (the request's promise follows it), or undefined to
   * fail with `err`. One function per connection instead of a `.catch`
   * closure and promise per request.
   */
  readonly retry?: (msg: Message, err: ClientError, deadlineMs: number, timeoutMs: number, signal: AbortSignal | undefined) => Promise<Reply> | undefined;
  /** Speak TLS (issue #9); absent: plaintext. */
  readonly tls?: ClientTlsOptions;
}

const MAX_STREAM = 0xffffffff;

export class Connection {
  readonly name: string;
  private socket: Socket | undefined;
  private readonly decoder: FrameDecoder;
  private readonly writer = new FrameWriter({ version: PROTOCOL_VERSION });
  private readonly pending = new Map<number, Pending>();
  /** Requests encoded so far; the first `flushedSeq` of them were handed to the socket (no list of unflushed requests to walk per batch). */
  private encodedSeq = 0;
  private flushedSeq = 0;
  private flushQueued = false;
  private nextStream = 1;
  private readonly inUse = (id: number): boolean => this.pending.has(id);
  private closed = false;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** What the node announced in HELLO_OK. */
  hello: HelloOk | undefined;
  /** Called once when the connection is lost or closed. */
  onClose: ((err: ClientError) => void) | undefined;

  constructor(private readonly options: ConnectionOptions) {
    this.name = `${options.host}:${options.port}`;
    this.decoder = new FrameDecoder({ maxFrameBytes: options.maxFrameBytes });
  }

  get inFlight(): number {
    return this.pending.size;
  }

  get isOpen(): boolean {
    return !this.closed && this.hello !== undefined;
  }

  /** Connects and completes the HELLO handshake. */
  open(): Promise<HelloOk> {
    return new Promise<HelloOk>((resolve, reject) => {
      const { host, port, connectTimeoutMs, clientName, tls } = this.options;
      const socket = tls === undefined ? connect({ host, port, noDelay: true }) : tlsConnect(tlsConnectOptions(host, port, tls));
      if (tls !== undefined) socket.setNoDelay(true);
      this.socket = socket;
      const timer = setTimeout(() => {
        fail(new ClientError('KV_TIMEOUT', `connect to ${this.name} timed out after ${connectTimeoutMs} ms`, { node: this.name, safeToRetry: true, retryable: true }));
      }, connectTimeoutMs);
      let settled = false;
      const fail = (e: ClientError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.shutdown(e);
        reject(e);
      };
      let auth: InitiatorAuth | undefined;
      try {
        auth = this.options.auth?.();
      } catch (e) {
        fail(new ClientError(isKvError(e) ? e.code : 'KV_BAD_ARGUMENT', (e as Error).message, { node: this.name }));
        return;
      }
      // HELLO waits for the TLS handshake: nothing goes out in the clear.
      socket.on(tls === undefined ? 'connect' : 'secureConnect', () => {
        this.writer.write({
          op: 'HELLO',
          streamId: CONNECTION_STREAM,
          minVersion: PROTOCOL_VERSION,
          maxVersion: PROTOCOL_VERSION,
          role: 'client',
          clientName,
          nodeId: '',
          authMechanism: auth?.mechanism ?? '',
          authPayload: auth?.helloPayload ?? new Uint8Array(0),
        });
        socket.write(this.writer.take());
      });
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      socket.on('error', (e) => {
        if (isCertificateError(e)) {
          // A certificate either side refuses: retrying cannot fix it.
          const err = new ClientError('KV_AUTH', `TLS with ${this.name} failed: ${describeTlsError(e)}`, { node: this.name, retryable: false, cause: e });
          if (!settled) fail(err);
          else this.shutdown(err);
          return;
        }
        const err = new ClientError('KV_UNAVAILABLE', `connection to ${this.name} failed: ${e.message}`, { node: this.name, retryable: true, cause: e });
        if (!settled) fail(new ClientError(err.code, err.message, { node: this.name, safeToRetry: true, retryable: true, cause: e }));
        else this.shutdown(err);
      });
      socket.on('close', () => {
        const err = new ClientError('KV_UNAVAILABLE', `connection to ${this.name} closed`, { node: this.name, retryable: true });
        if (!settled) fail(new ClientError(err.code, err.message, { node: this.name, safeToRetry: true, retryable: true }));
        else this.shutdown(err);
      });
      const authFailed = (message: string) =>
        fail(new ClientError('KV_AUTH', `${this.name}: ${message}`, { node: this.name, safeToRetry: true }));
      this.helloWaiter = (r) => {
        if (settled) return;
        if (r.op === 'AUTH_REPLY') {
          if (auth === undefined) return authFailed('unexpected AUTH_REPLY (no credentials were offered)');
          const answer = auth.onReply(r.payload);
          if (E.isLeft(answer)) return authFailed(answer.left.message.replace(/^KV_AUTH: /, ''));
          if (answer.right !== undefined) {
            this.writer.write({ op: 'AUTH', streamId: CONNECTION_STREAM, payload: answer.right });
            socket.write(this.writer.take());
          }
          return;
        }
        if (r.op === 'HELLO_OK' && auth !== undefined && !auth.acceptorVerified) {
          authFailed('the node accepted the handshake without proving it knows the user');
          return;
        }
        if (r.op === 'HELLO_OK') {
          settled = true;
          clearTimeout(timer);
          this.hello = r;
          resolve(r);
        } else if (r.op === 'ERROR') {
          const e = toKvError(r);
          fail(new ClientError(e.code, `${this.name} refused the handshake: ${r.message}`, { node: this.name, retryable: r.retryable, safeToRetry: true }));
        }
      };
    });
  }

  private helloWaiter: ((r: Reply) => void) | undefined;

  /** Sends a request; resolves with its reply (an ERROR reply rejects). */
  request(msg: Outgoing, timeoutMs: number, signal?: AbortSignal): Promise<Reply> {
    return this.requestOwned({ ...msg, streamId: 0 } as Message, timeoutMs, signal);
  }

  /**
   * As `request`, for a message the caller hands over: its `streamId` is
   * overwritten with the one this connection assigns (saves the copy
   * `request` makes). The message is encoded before this returns, so the
   * caller may send the same object again (a retry) afterwards.
   */
  requestOwned(msg: Message, timeoutMs: number, signal?: AbortSignal, deadlineMs?: number, retry?: boolean): Promise<Reply>;
  /** With `convert`: resolves with `convert(reply)` (a throw rejects). */
  requestOwned<T>(msg: Message, timeoutMs: number, signal: AbortSignal | undefined, deadlineMs: number | undefined, retry: boolean, convert: (r: Reply) => T): Promise<T>;
  requestOwned<T>(msg: Message, timeoutMs: number, signal?: AbortSignal, deadlineMs?: number, retry = false, convert?: (r: Reply) => T): Promise<T | Reply> {
    if (this.closed || this.socket === undefined) {
      const err = new ClientError('KV_UNAVAILABLE', `connection to ${this.name} is closed`, { node: this.name, safeToRetry: true, retryable: true });
      const again = retry ? this.options.retry?.(msg, err, deadlineMs ?? Date.now() + timeoutMs, timeoutMs, signal) : undefined;
      if (again === undefined) return Promise.reject(err);
      return convert === undefined ? again : again.then(convert);
    }
    if (signal?.aborted) return Promise.reject(new ClientError('KV_ABORTED', 'request aborted', { node: this.name, safeToRetry: true }));
    const streamId = this.allocStream();
    return new Promise<T | Reply>((resolve, reject) => {
      const p: Pending = {
        resolve: resolve as (v: unknown) => void,
        convert,
        reject,
        msg: retry ? msg : undefined,
        seq: 0,
        deadlineMs: deadlineMs ?? Date.now() + timeoutMs,
        timeoutMs,
        abort: undefined,
        signal,
      };
      try {
        (msg as { streamId: number }).streamId = streamId;
        this.writer.write(msg);
      } catch (e) {
        reject(isKvError(e) ? new ClientError(e.code, e.message, { node: this.name, safeToRetry: true, cause: e }) : e);
        return;
      }
      this.pending.set(streamId, p);
      p.seq = ++this.encodedSeq;
      if (this.sweepTimer === undefined) this.sweepTimer = setInterval(() => this.sweep(), TIMEOUT_SWEEP_MS);
      if (signal !== undefined) {
        p.abort = () => {
          this.settle(streamId, p);
          this.fail(p, new ClientError('KV_ABORTED', 'request aborted', { node: this.name, safeToRetry: !this.written(p), cause: signal.reason }));
        };
        signal.addEventListener('abort', p.abort, { once: true });
      }
      // A long burst goes out in parts, so the node starts on the first ones (PIPELINE_FRAMES).
      if (this.writer.pendingFrames >= PIPELINE_FRAMES) this.flush();
      else this.scheduleFlush();
    });
  }

  private allocStream(): number {
    const id = nextStreamId(this.nextStream, this.inUse);
    this.nextStream = id === MAX_STREAM ? 1 : id + 1;
    return id;
  }

  private written(p: Pending): boolean {
    return p.seq <= this.flushedSeq;
  }

  /** Rejects a settled request, or hands it to another attempt (`ConnectionOptions.retry`). */
  private fail(p: Pending, err: ClientError): void {
    const again = p.msg !== undefined ? this.options.retry?.(p.msg, err, p.deadlineMs, p.timeoutMs, p.signal) : undefined;
    if (again === undefined) p.reject(err);
    else p.resolve(p.convert === undefined ? again : again.then(p.convert));
  }

  private settle(streamId: number, p: Pending): void {
    this.pending.delete(streamId);
    if (p.abort !== undefined) p.signal?.removeEventListener('abort', p.abort);
  }

  /** Times out every request past its deadline; stops when nothing is pending. */
  private sweep(): void {
    if (this.pending.size === 0) {
      this.stopSweep();
      return;
    }
    const nowMs = Date.now();
    for (const [streamId, p] of this.pending) {
      if (p.deadlineMs > nowMs) continue;
      this.settle(streamId, p);
      this.fail(p, new ClientError('KV_TIMEOUT', `no reply from ${this.name} within ${p.timeoutMs} ms`, { node: this.name, safeToRetry: !this.written(p), retryable: true }));
    }
  }

  private stopSweep(): void {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.writer.pendingBytes === 0 || this.socket === undefined || this.closed) return;
    this.flushedSeq = this.encodedSeq;
    this.socket.write(this.writer.take());
  }

  private onData(chunk: Buffer): void {
    this.decoder.push(chunk);
    for (;;) {
      let frame;
      try {
        frame = this.decoder.next();
      } catch (e) {
        this.shutdown(new ClientError('KV_BAD_FRAME', `bad frame from ${this.name}: ${(e as Error).message}`, { node: this.name, cause: e }));
        return;
      }
      if (frame === undefined) return;
      const decoded = decodeMessage(frame);
      if (E.isLeft(decoded)) {
        this.shutdown(new ClientError('KV_BAD_FRAME', `bad reply from ${this.name}: ${decoded.left.message}`, { node: this.name, cause: decoded.left }));
        return;
      }
      const m = decoded.right as Reply;
      if (m.streamId === CONNECTION_STREAM) {
        if (this.hello === undefined && this.helloWaiter !== undefined) {
          this.helloWaiter(m);
          continue;
        }
        if (m.op === 'ERROR') {
          const e = toKvError(m);
          this.shutdown(new ClientError(e.code, `${this.name} closed the connection: ${m.message}`, { node: this.name, retryable: m.retryable }));
          return;
        }
        continue;
      }
      const p = this.pending.get(m.streamId);
      if (p === undefined) continue; // timed out or aborted; the late reply is dropped
      this.settle(m.streamId, p);
      if (m.op === 'ERROR') {
        const e = toKvError(m);
        // A node that refused for load did not execute the request.
        this.fail(p, new ClientError(e.code, m.message, { node: this.name, retryable: m.retryable, safeToRetry: e.code === 'KV_OVERLOADED' }));
      } else if (p.convert === undefined) {
        p.resolve(m);
      } else {
        let v: unknown;
        try {
          v = p.convert(m);
        } catch (e) {
          p.reject(e as ClientError);
          continue;
        }
        p.resolve(v);
      }
    }
  }

  /** Fails every pending request and closes the socket. */
  private shutdown(err: ClientError): void {
    if (this.closed) return;
    this.closed = true;
    this.stopSweep();
    for (const [id, p] of this.pending) {
      this.settle(id, p);
      this.fail(p, new ClientError(err.code, err.message, { node: this.name, retryable: err.retryable, safeToRetry: !this.written(p), cause: err.cause }));
    }
    this.socket?.destroy();
    this.onClose?.(err);
  }

  close(): void {
    this.shutdown(new ClientError('KV_CLOSED', 'client closed', { node: this.name, safeToRetry: true }));
  }
}
