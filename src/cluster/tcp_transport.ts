/**
 * TcpTransport: the production Transport (src/cluster/effects.ts) over the
 * same framing as client traffic (protocol/index.ts).
 *
 * Outbound: one multiplexed connection per peer address, opened lazily with a
 * HELLO (role `node`, our nodeId); requests carry stream ids and replies may
 * arrive in any order. Frames written in the same tick go out in one
 * `socket.write` (coalescing is worth ~7x on loopback, see DESIGN.md). A peer
 * that cannot be reached is not retried before its backoff delay
 * (src/client/backoff.ts) has passed: requests in between fail at once with
 * KV_UNAVAILABLE, so a dead peer costs nothing but a map lookup. Every
 * request has a deadline and fails with KV_TIMEOUT rather than hanging (a
 * SIGSTOPped peer accepts TCP but never answers).
 *
 * Inbound: the NodeServer (src/node/server.ts) owns the listening socket; it
 * hands each node-opcode request of a role-`node` connection to
 * `handleInbound`, which decodes it, runs the installed PeerHandler and
 * encodes the reply (a rejection becomes an ERROR frame, PEER_ERROR).
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
  errorMessage,
  toKvError,
  type ErrorMessage,
  type HelloOk,
  type Message,
  type NodeMessage,
  nextStreamId,
} from '../../protocol/index.js';
import type { PeerReply, PeerRequest } from '../../protocol/peer_messages.js';
import { decodePeerReply, decodePeerRequest, peerToMessage } from '../../protocol/peer.js';
import { exponentialBackoff, type BackoffPolicy } from '../client/backoff.js';
import { describeTlsError, isCertificateError, tlsConnectOptions, type ClientTlsOptions } from '../client/tls.js';
import { KvError, isErrorCode, isKvError } from '../errors.js';
import type { NodeId } from '../core/types.js';
import type { Clock, PeerHandler, Timer, Transport } from './effects.js';
import { realClock } from './real_clock.js';
import { NodeInitiator, type InitiatorAuth } from '../auth/initiator.js';
import type { ClusterKey } from '../auth/node_auth.js';

/**
 * How peer messages map onto frames. `peerWireCodec` (protocol/peer.ts) is
 * the real one; tests may plug a simpler one to test the plumbing alone.
 */
export interface PeerCodec {
  requestToMessage(streamId: number, request: PeerRequest): NodeMessage;
  /** A PEER_ERROR reply travels as an ERROR frame. `request` is what it answers. */
  replyToMessage(streamId: number, reply: PeerReply, request: PeerRequest['type']): NodeMessage | ErrorMessage;
  decodeRequest(m: NodeMessage): E.Either<KvError, PeerRequest>;
  decodeReply(m: NodeMessage | ErrorMessage, request: PeerRequest['type']): E.Either<KvError, PeerReply>;
}

export const peerWireCodec: PeerCodec = {
  requestToMessage: (streamId, request) => peerToMessage(streamId, request) as NodeMessage,
  replyToMessage: (streamId, reply, request) => peerToMessage(streamId, reply, request),
  decodeRequest: decodePeerRequest,
  decodeReply: decodePeerReply,
};

export interface TcpTransportOptions {
  /** Sent in HELLO; may be set later (before the first request) when the port is picked at listen. */
  readonly nodeId: NodeId;
  readonly codec: PeerCodec;
  readonly clock?: Clock;
  /** Connect + HELLO bound. Default 1000 ms. */
  readonly connectTimeoutMs?: number;
  /** Delays between connection attempts to an unreachable peer. Default 50 ms doubling to 2 s, jittered. */
  readonly backoff?: BackoffPolicy;
  /** Requests refused (KV_OVERLOADED) while this many bytes wait in a peer socket. Default 16 MiB. */
  readonly maxBufferedBytes?: number;
  readonly maxFrameBytes?: number;
  readonly log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
  /**
   * Prove to each peer that we hold the cluster secret, and require the peer
   * to prove it first (issue #9): no request is written to a peer that has not.
   */
  readonly clusterKey?: ClusterKey;
  /**
   * Issue #9: speak TLS to peers, verifying them against `ca` and presenting
   * `cert`/`key` (the node's own, for peers that require client certificates).
   */
  readonly tls?: ClientTlsOptions;
}

interface Pending {
  readonly type: PeerRequest['type'];
  readonly resolve: (r: PeerReply) => void;
  readonly reject: (e: KvError) => void;
  /** Clock ms after which the request fails with KV_TIMEOUT. */
  readonly deadlineMs: number;
  readonly timeoutMs: number;
}

interface Waiting {
  readonly streamId: number;
  readonly request: PeerRequest;
}

const MAX_STREAM = 0xffffffff;

const peerErrorToKvError = (code: string, message: string): KvError =>
  new KvError(isErrorCode(code) ? code : 'KV_INTERNAL', isErrorCode(code) ? message : `${code}: ${message}`);

/** The outbound connection to one address. */
class PeerLink {
  private socket: Socket | undefined;
  private state: 'idle' | 'connecting' | 'open' | 'closed' = 'idle';
  private decoder: FrameDecoder;
  private readonly writer = new FrameWriter({ version: PROTOCOL_VERSION });
  private readonly pending = new Map<number, Pending>();
  /** Requests made while connecting; written after HELLO_OK (HELLO must go first). */
  private waiting: Waiting[] = [];
  private nextStream = 1;
  private flushQueued = false;
  private backoff: Iterator<number, void>;
  /** No connection attempt before this time (clock ms) after a failure. */
  private retryAtMs = 0;
  private connectTimer: Timer | undefined;
  /**
   * One timer per link, armed for the earliest pending deadline, instead of
   * one per request: a replicated op made two or three timers (arm + cancel)
   * per peer request, and almost all of them were cancelled by the reply.
   */
  private deadlineTimer: Timer | undefined;
  /** The deadline `deadlineTimer` fires at (clock ms). */
  private deadlineArmedMs = Infinity;
  /** The peer's id from HELLO_OK. */
  peerId: NodeId | undefined;
  /** The authentication exchange of the connection being opened. */
  private auth: InitiatorAuth | undefined;
  readonly host: string;
  readonly port: number;

  constructor(
    private readonly transport: TcpTransport,
    readonly address: string,
  ) {
    const colon = address.lastIndexOf(':');
    const host = colon > 0 ? address.slice(0, colon) : address;
    // `[::1]:7401`: the brackets only delimit an IPv6 host in the address.
    this.host = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    this.port = Number(address.slice(colon + 1));
    this.decoder = new FrameDecoder({ maxFrameBytes: transport.maxFrameBytes });
    this.backoff = transport.backoffPolicy();
  }

  request(request: PeerRequest, timeoutMs: number): Promise<PeerReply> {
    const { clock } = this.transport;
    if (this.state === 'closed') return Promise.reject(new KvError('KV_CLOSED', 'transport closed'));
    if (this.state === 'idle') {
      const waitMs = this.retryAtMs - clock.now();
      if (waitMs > 0) return Promise.reject(new KvError('KV_UNAVAILABLE', `peer ${this.address} unreachable (next attempt in ${waitMs} ms)`));
      if (!Number.isInteger(this.port) || this.port <= 0 || this.port > 65535) {
        return Promise.reject(new KvError('KV_BAD_ARGUMENT', `bad peer address ${this.address}`));
      }
      this.connect();
    }
    if (this.socket !== undefined && this.socket.writableLength > this.transport.maxBufferedBytes) {
      return Promise.reject(new KvError('KV_OVERLOADED', `${this.socket.writableLength} bytes queued to ${this.address}`));
    }
    const streamId = this.allocStream();
    return new Promise<PeerReply>((resolve, reject) => {
      const deadlineMs = clock.now() + Math.max(0, timeoutMs);
      this.pending.set(streamId, { type: request.type, resolve, reject, deadlineMs, timeoutMs });
      if (deadlineMs < this.deadlineArmedMs) this.armDeadline(deadlineMs);
      if (this.state === 'open') this.write(streamId, request);
      else this.waiting.push({ streamId, request });
    });
  }

  private armDeadline(deadlineMs: number): void {
    this.deadlineTimer?.cancel();
    this.deadlineArmedMs = deadlineMs;
    this.deadlineTimer = this.transport.clock.setTimer(deadlineMs - this.transport.clock.now(), () => this.expire());
  }

  /** Fails every pending request whose deadline passed, then re-arms for the earliest one left. */
  private expire(): void {
    this.deadlineTimer = undefined;
    this.deadlineArmedMs = Infinity;
    const nowMs = this.transport.clock.now();
    let nextMs = Infinity;
    let expired: number[] | undefined;
    for (const [id, p] of this.pending) {
      if (p.deadlineMs <= nowMs) (expired ??= []).push(id);
      else if (p.deadlineMs < nextMs) nextMs = p.deadlineMs;
    }
    if (expired !== undefined) {
      const gone = new Set(expired);
      if (this.waiting.length > 0) this.waiting = this.waiting.filter((w) => !gone.has(w.streamId));
      for (const id of expired) {
        const p = this.pending.get(id)!;
        this.pending.delete(id);
        p.reject(new KvError('KV_TIMEOUT', `no reply from ${this.peerId ?? this.address} within ${p.timeoutMs} ms`));
      }
    }
    if (nextMs !== Infinity) this.armDeadline(nextMs);
  }

  private write(streamId: number, request: PeerRequest): void {
    try {
      this.writer.write(this.transport.codec.requestToMessage(streamId, request));
      this.transport.peerFramesSent++;
    } catch (e) {
      const p = this.pending.get(streamId);
      if (p !== undefined) this.settle(streamId, p).reject(isKvError(e) ? e : new KvError('KV_BAD_ARGUMENT', String(e)));
      return;
    }
    // As on client connections: a long burst goes out in parts (PIPELINE_FRAMES).
    if (this.writer.pendingFrames >= PIPELINE_FRAMES) this.flush();
    else this.scheduleFlush();
  }

  private allocStream(): number {
    const id = nextStreamId(this.nextStream, (x) => this.pending.has(x));
    this.nextStream = id === MAX_STREAM ? 1 : id + 1;
    return id;
  }

  private settle(streamId: number, p: Pending): Pending {
    // The link's deadline timer is left armed even when nothing is pending:
    // it fires once for nothing and stops, where cancelling would cost a timer per request again at low load.
    this.pending.delete(streamId);
    return p;
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    // setImmediate, not a microtask: the requests a coordinator sends to one
    // replica are made across several promise turns of one I/O callback; they
    // should share a write.
    setImmediate(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.writer.pendingBytes === 0 || this.socket === undefined || this.state !== 'open') return;
    this.transport.peerWrites++;
    this.socket.write(this.writer.take());
  }

  private connect(): void {
    this.state = 'connecting';
    const { tls } = this.transport;
    const socket = tls === undefined ? connect({ host: this.host, port: this.port }) : tlsConnect(tlsConnectOptions(this.host, this.port, tls));
    // Small request frames must not wait for Nagle's algorithm (and the peer's delayed ACK).
    socket.setNoDelay(true);
    this.socket = socket;
    this.connectTimer = this.transport.clock.setTimer(this.transport.connectTimeoutMs, () =>
      this.lost(socket, new KvError('KV_UNAVAILABLE', `connect to ${this.address} timed out after ${this.transport.connectTimeoutMs} ms`)),
    );
    const key = this.transport.clusterKey;
    const auth = key !== undefined ? new NodeInitiator(key, this.transport.nodeId) : undefined;
    this.auth = auth;
    // HELLO goes out once the TLS handshake (if any) is done: nothing is sent in the clear.
    socket.on(tls === undefined ? 'connect' : 'secureConnect', () => {
      const hello = new FrameWriter();
      hello.write({
        op: 'HELLO',
        streamId: CONNECTION_STREAM,
        minVersion: PROTOCOL_VERSION,
        maxVersion: PROTOCOL_VERSION,
        role: 'node',
        clientName: 'ringkv-node',
        nodeId: this.transport.nodeId,
        authMechanism: auth?.mechanism ?? '',
        authPayload: auth?.helloPayload ?? new Uint8Array(0),
      });
      socket.write(hello.take());
    });
    socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
    socket.on('error', (e) =>
      this.lost(
        socket,
        isCertificateError(e)
          ? new KvError('KV_AUTH', `TLS on the link to ${this.address} failed: ${describeTlsError(e)}`)
          : new KvError('KV_UNAVAILABLE', `connection to ${this.address} failed: ${e.message}`),
      ),
    );
    socket.on('close', () => this.lost(socket, new KvError('KV_UNAVAILABLE', `connection to ${this.address} closed`)));
  }

  private onHello(m: HelloOk): void {
    this.connectTimer?.cancel();
    this.state = 'open';
    this.peerId = m.nodeId;
    this.transport.learned(m.nodeId, this.address, m.ringVersion);
    this.backoff = this.transport.backoffPolicy();
    this.retryAtMs = 0;
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) if (this.pending.has(w.streamId)) this.write(w.streamId, w.request);
  }

  /** Answers the peer's challenge; false (and the link is dropped) when the peer failed to prove itself. */
  private onAuthReply(socket: Socket, payload: Uint8Array): boolean {
    const answer = this.auth?.onReply(payload);
    if (answer === undefined || E.isLeft(answer)) {
      const why = answer === undefined ? 'an AUTH_REPLY nobody asked for' : answer.left.message;
      this.transport.authFailures++;
      this.transport.warn(`peer ${this.address}: ${why}`);
      this.lost(socket, new KvError('KV_AUTH', `${this.address}: ${why}`));
      return false;
    }
    if (answer.right !== undefined) {
      const w = new FrameWriter();
      w.write({ op: 'AUTH', streamId: CONNECTION_STREAM, payload: answer.right });
      socket.write(w.take());
    }
    return true;
  }

  private onData(socket: Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    this.decoder.push(chunk);
    for (;;) {
      let frame;
      try {
        frame = this.decoder.next();
      } catch (e) {
        this.lost(socket, new KvError('KV_BAD_FRAME', `bad frame from ${this.address}: ${(e as Error).message}`));
        return;
      }
      if (frame === undefined) return;
      const decoded = decodeMessage(frame);
      if (E.isLeft(decoded)) {
        this.lost(socket, new KvError('KV_BAD_FRAME', `bad reply from ${this.address}: ${decoded.left.message}`));
        return;
      }
      const m: Message = decoded.right;
      if (m.streamId === CONNECTION_STREAM) {
        if (m.op === 'AUTH_REPLY' && this.state === 'connecting') {
          if (!this.onAuthReply(socket, m.payload)) return;
        } else if (m.op === 'HELLO_OK' && this.state === 'connecting') {
          if (this.auth !== undefined && !this.auth.acceptorVerified) {
            this.lost(socket, new KvError('KV_AUTH', `${this.address} answered HELLO without proving it holds the cluster secret`));
            return;
          }
          this.onHello(m);
        } else if (m.op === 'ERROR') {
          const e = toKvError(m);
          this.lost(socket, new KvError(e.code, `${this.address} closed the connection: ${m.message}`));
          return;
        }
        continue;
      }
      const p = this.pending.get(m.streamId);
      if (p === undefined) continue; // timed out: the late reply is dropped
      if (m.op !== 'ERROR' && m.op !== 'NODE') {
        this.settle(m.streamId, p).reject(new KvError('KV_BAD_FRAME', `unexpected ${m.op} from peer ${this.address}`));
        continue;
      }
      this.settle(m.streamId, p);
      const reply = this.transport.codec.decodeReply(m, p.type);
      if (E.isLeft(reply)) p.reject(reply.left);
      else if (reply.right.type === 'PEER_ERROR') p.reject(peerErrorToKvError(reply.right.code, reply.right.message));
      else p.resolve(reply.right);
    }
  }

  /** The connection is gone: fail what waits on it and hold off reconnecting for a backoff delay. */
  private lost(socket: Socket, err: KvError): void {
    if (socket !== this.socket) return;
    this.socket = undefined;
    this.connectTimer?.cancel();
    socket.destroy();
    if (this.state !== 'closed') {
      const wasOpen = this.state === 'open';
      this.state = 'idle';
      // A connection that worked and then dropped may be retried at once (peer restarted);
      // one that never opened waits out its backoff delay.
      const next = wasOpen ? { done: false, value: 0 } : this.backoff.next();
      this.retryAtMs = this.transport.clock.now() + (next.done === true ? 60_000 : next.value);
    }
    // A new connection starts a new byte stream.
    this.decoder = new FrameDecoder({ maxFrameBytes: this.transport.maxFrameBytes });
    this.waiting = [];
    this.writer.take(); // bytes meant for the dead socket
    for (const [id, p] of this.pending) this.settle(id, p).reject(err);
  }

  close(): void {
    if (this.state === 'closed') return;
    const socket = this.socket;
    this.state = 'closed';
    if (socket !== undefined) this.lost(socket, new KvError('KV_CLOSED', 'transport closed'));
    for (const [id, p] of this.pending) this.settle(id, p).reject(new KvError('KV_CLOSED', 'transport closed'));
    this.deadlineTimer?.cancel();
    this.deadlineTimer = undefined;
  }
}

export class TcpTransport implements Transport {
  nodeId: NodeId;
  readonly codec: PeerCodec;
  readonly clock: Clock;
  readonly connectTimeoutMs: number;
  readonly maxBufferedBytes: number;
  readonly maxFrameBytes: number;
  readonly backoffPolicy: BackoffPolicy;
  readonly clusterKey: ClusterKey | undefined;
  /** Peers that failed to prove they hold the cluster secret. */
  authFailures = 0;
  /** Used for each new link; replaced when the node's certificate is rotated (RunningNode.reloadTls). */
  tls: ClientTlsOptions | undefined;
  private readonly addresses = new Map<NodeId, string>();
  private readonly links = new Map<string, PeerLink>();
  private handler: PeerHandler | undefined;
  private closed = false;
  private readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
  /** Highest ringVersion seen in a peer's HELLO_OK, for diagnostics. */
  readonly peerRingVersions = new Map<NodeId, bigint>();
  /** Requests currently being handled for peers. */
  inboundInFlight = 0;
  /** Request frames queued to peers, and the socket writes that carried them (frames per write = coalescing). */
  peerFramesSent = 0;
  peerWrites = 0;

  constructor(options: TcpTransportOptions) {
    this.nodeId = options.nodeId;
    this.codec = options.codec;
    this.clock = options.clock ?? realClock;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 1000;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 16 * 1024 * 1024;
    this.maxFrameBytes = options.maxFrameBytes ?? 64 * 1024 * 1024;
    this.backoffPolicy = options.backoff ?? exponentialBackoff({ baseMs: 50, maxMs: 2000 });
    this.log = options.log ?? (() => undefined);
    this.clusterKey = options.clusterKey;
    this.tls = options.tls;
  }

  warn(msg: string): void {
    this.log('warn', msg);
  }

  request(to: NodeId, request: PeerRequest, timeoutMs: number): Promise<PeerReply> {
    if (this.closed) return Promise.reject(new KvError('KV_CLOSED', 'transport closed'));
    const address = this.addresses.get(to);
    if (address === undefined) return Promise.reject(new KvError('KV_UNAVAILABLE', `no address known for ${to}`));
    return this.link(address).request(request, timeoutMs);
  }

  async requestAddress(address: string, request: PeerRequest, timeoutMs: number): Promise<{ readonly from: NodeId; readonly reply: PeerReply }> {
    if (this.closed) throw new KvError('KV_CLOSED', 'transport closed');
    const link = this.link(address);
    const reply = await link.request(request, timeoutMs);
    // Resolved replies only come over an open link, which knows its peer.
    return { from: link.peerId ?? address, reply };
  }

  serve(handler: PeerHandler): void {
    this.handler = handler;
  }

  counters(): Readonly<Record<string, number>> {
    return { peerFramesSent: this.peerFramesSent, peerWrites: this.peerWrites, inboundInFlight: this.inboundInFlight, peerAuthFailures: this.authFailures };
  }

  setAddress(node: NodeId, address: string): void {
    if (node === this.nodeId) return;
    this.addresses.set(node, address);
  }

  /** Where `node` is believed to listen, if known. */
  addressOf(node: NodeId): string | undefined {
    return this.addresses.get(node);
  }

  /** Called by a link on HELLO_OK: a seed's id becomes known. */
  learned(node: NodeId, address: string, ringVersion: bigint): void {
    if (node !== this.nodeId && !this.addresses.has(node)) this.addresses.set(node, address);
    this.peerRingVersions.set(node, ringVersion);
  }

  private link(address: string): PeerLink {
    let l = this.links.get(address);
    if (l === undefined) {
      l = new PeerLink(this, address);
      this.links.set(address, l);
    }
    return l;
  }

  /**
   * Runs one inbound node request (called by the server for a role-`node`
   * connection) and returns the frame to answer with: at once when the
   * handler answered at once, else a promise. Never throws or rejects.
   */
  handleInbound(from: NodeId, m: NodeMessage): NodeMessage | ErrorMessage | Promise<NodeMessage | ErrorMessage> {
    const decoded = this.codec.decodeRequest(m);
    if (E.isLeft(decoded)) return errorMessage(m.streamId, decoded.left);
    const handler = this.handler;
    if (handler === undefined || this.closed) {
      return errorMessage(m.streamId, new KvError('KV_UNAVAILABLE', this.closed ? 'node is stopping' : 'node is starting'));
    }
    const request = decoded.right;
    let reply: PeerReply | Promise<PeerReply>;
    try {
      reply = handler(from, request);
    } catch (e) {
      return this.inboundError(from, m.streamId, e);
    }
    if (!(reply instanceof Promise)) return this.codec.replyToMessage(m.streamId, reply, request.type);
    this.inboundInFlight++;
    return reply.then(
      (r) => {
        this.inboundInFlight--;
        return this.codec.replyToMessage(m.streamId, r, request.type);
      },
      (e: unknown) => {
        this.inboundInFlight--;
        return this.inboundError(from, m.streamId, e);
      },
    );
  }

  private inboundError(from: NodeId, streamId: number, e: unknown): ErrorMessage {
    const err = isKvError(e) ? e : new KvError('KV_INTERNAL', `peer request failed: ${String(e)}`, { cause: e });
    if (err.code === 'KV_INTERNAL') this.log('error', `peer request from ${from} failed: ${(e as Error)?.stack ?? String(e)}`);
    return errorMessage(streamId, err);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const l of this.links.values()) l.close();
    this.links.clear();
  }
}
