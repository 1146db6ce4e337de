/**
 * The node's TCP front: speaks protocol v1 (protocol/PROTOCOL.md) to clients.
 *
 * Per connection: a push decoder that accepts any split of the stream, a
 * HELLO handshake with a deadline, a cap on requests in flight (the excess
 * gets KV_OVERLOADED, retryable), and one FrameWriter whose bytes go out in
 * one `socket.write` per batch of replies. When the socket cannot drain, the
 * connection stops reading until it does, so a client that does not read its
 * replies cannot make the node buffer without bound.
 *
 * Nothing a client sends can crash the node: a malformed frame gets ERROR on
 * stream 0 and the connection is closed; a bad request gets ERROR on its
 * stream; an exception inside a handler becomes KV_INTERNAL for that request.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import * as E from 'fp-ts/lib/Either.js';
import {
  CONNECTION_STREAM,
  FLAG_RESPONSE,
  FrameDecoder,
  FrameWriter,
  PIPELINE_FRAMES,
  PROTOCOL_VERSION,
  acceptHello,
  closesConnection,
  errorMessage,
  toKvError,
  decodeMessage,
  type ErrorMessage,
  type Hello,
  type HelloOk,
  type Limits as WireLimits,
  type Message,
  type NodeMessage,
  type Reply,
} from '../../protocol/index.js';
import { KvError, isKvError } from '../errors.js';
import { AcceptorAuth, mechanismFor, type AcceptorSecurity } from '../auth/acceptor.js';
import { permits, type UserRole } from '../auth/roles.js';
import type { Limits } from './config.js';
import type { KvService, ReadResult } from './service.js';
import type { NodeStats, OpName } from './stats.js';
import { handshakeServer, type TlsMaterial } from './tls.js';

export interface ServerOptions {
  readonly host: string;
  readonly port: number;
  readonly nodeId: string;
  readonly limits: Limits;
  readonly service: KvService;
  readonly stats: NodeStats;
  /** Where the server reports what it refuses or fails at (never secrets). */
  readonly log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
  /**
   * Handles node-opcode requests of role-`node` connections (a cluster
   * node's TcpTransport). Absent on a standalone node: peers get KV_UNSUPPORTED.
   */
  readonly peers?: PeerEndpoint;
  /** The ring version HELLO_OK announces (0 on a standalone node). */
  readonly ringVersion?: () => bigint;
  /** Runs an AAE_EXCHANGE (its request body) and answers the reply body (§16); absent: KV_UNSUPPORTED. */
  readonly aaeExchange?: (body: Uint8Array) => Promise<Uint8Array>;
  /** The AAE_STATUS_REPLY body (§16); absent: KV_UNSUPPORTED. */
  readonly aaeStatus?: () => Uint8Array;
  /** The RING_REPLY body; absent: RING answers KV_UNSUPPORTED. */
  readonly ringBody?: () => Uint8Array;
  /** More named figures for STATS (e.g. the cluster view), flattened to dotted names. */
  readonly extraStats?: () => Record<string, unknown>;
  /**
   * Who must authenticate (issue #9): clients as users, peers with the
   * cluster secret. Absent: nobody, and HELLO works exactly as before.
   */
  readonly security?: AcceptorSecurity;
  /** Serve TLS only (issue #9); absent: plaintext. */
  readonly tls?: TlsMaterial;
}

export interface PeerEndpoint {
  /** The reply, at once when it can be; never throws or rejects: failures come back as an ERROR message for the stream. */
  handleInbound(from: string, m: NodeMessage): NodeMessage | ErrorMessage | Promise<NodeMessage | ErrorMessage>;
}

const errorReply = (streamId: number, e: KvError): Reply => errorMessage(streamId, e);

const getReply = (streamId: number, res: ReadResult): Reply => ({ op: 'GET_REPLY', streamId, found: res.found, context: res.context, siblings: res.siblings });

const OP_NAMES: readonly OpName[] = ['get', 'put', 'delete', 'ping', 'stats', 'other'];
const opIndex = (op: Message['op']): number => (op === 'GET' ? 0 : op === 'PUT' ? 1 : op === 'DELETE' ? 2 : op === 'PING' ? 3 : op === 'STATS' ? 4 : 5);

class Connection {
  private readonly decoder: FrameDecoder;
  private readonly writer = new FrameWriter({ version: PROTOCOL_VERSION });
  private helloDone = false;
  /** Set by HELLO: a peer node (its id) or a client (undefined). */
  private peerId: string | undefined;
  /** An authentication exchange under way: HELLO_OK waits for it. */
  private auth: { readonly session: AcceptorAuth; readonly hello: Hello; readonly ok: HelloOk } | undefined;
  /** What this connection may do (src/auth/roles.ts); admin when the server requires no authentication. */
  private role: UserRole = 'admin';
  private closing = false;
  private inFlight = 0;
  private flushQueued = false;
  private waitingDrain = false;
  private handshakeTimer: NodeJS.Timeout | undefined;
  /** When the chunk being decoded was read (performance.now()). */
  private batchStart = 0;
  /** Requests of this chunk answered synchronously, by OP_NAMES index: recorded once per chunk. */
  private readonly batchDone = new Int32Array(OP_NAMES.length);

  constructor(
    private readonly server: NodeServer,
    readonly socket: Socket,
  ) {
    const { limits } = server.options;
    this.decoder = new FrameDecoder({ maxFrameBytes: limits.maxFrameBytes });
    socket.setNoDelay(true);
    // With TLS the tls.Server bounds the TLS handshake; this bounds HELLO after it.
    this.handshakeTimer = setTimeout(() => {
      server.stats.add('handshakeTimeouts');
      this.fail(new KvError('KV_TIMEOUT', `no HELLO within the handshake timeout (${limits.handshakeTimeoutMs} ms)`));
    }, limits.handshakeTimeoutMs);
    this.handshakeTimer.unref();
    if (limits.idleTimeoutMs > 0) {
      socket.setTimeout(limits.idleTimeoutMs, () => {
        if (this.inFlight > 0) return;
        server.stats.add('idleTimeouts');
        this.fail(new KvError('KV_TIMEOUT', `idle for ${limits.idleTimeoutMs} ms`));
      });
    }
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      this.waitingDrain = false;
      if (!this.closing) socket.resume();
    });
    socket.on('error', () => undefined); // 'close' follows; a reset peer is not the node's problem
    socket.on('close', () => this.onClose());
  }

  get pending(): number {
    return this.inFlight;
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    this.server.bytesIn += chunk.length;
    this.decoder.push(chunk);
    this.batchStart = performance.now();
    const open = this.serveFrames();
    this.recordBatch();
    if (open) this.flush();
  }

  /** Serves every whole frame buffered; false when the connection is closing (nothing more to write). */
  private serveFrames(): boolean {
    for (;;) {
      let frame;
      try {
        frame = this.decoder.next();
      } catch (e) {
        this.fail(isKvError(e) ? e : new KvError('KV_BAD_FRAME', String(e)));
        return false;
      }
      if (frame === undefined) return true;
      const decoded = decodeMessage(frame, this.server.wireLimits);
      if (E.isLeft(decoded)) {
        const err = decoded.left;
        if (closesConnection(err) || !this.helloDone) {
          this.fail(err);
          return false;
        }
        this.server.stats.error(err.code);
        this.reply(errorReply(frame.streamId, err));
        continue;
      }
      // One check for every request opcode, whatever handles it below.
      if (this.role !== 'admin' && this.helloDone && (frame.flags & FLAG_RESPONSE) === 0 && !permits(this.role, frame.opcode)) {
        this.server.stats.error('KV_FORBIDDEN');
        this.reply(errorReply(frame.streamId, new KvError('KV_FORBIDDEN', `role ${this.role} may not send opcode 0x${frame.opcode.toString(16)}`)));
        continue;
      }
      this.onMessage(decoded.right);
      if (this.closing) return false;
    }
  }

  /**
   * Records the requests of this chunk answered synchronously, with one
   * clock read for all of them: each gets the chunk's time, from its bytes
   * being read to the last reply made (an upper bound of its own; replies go
   * out every PIPELINE_FRAMES, so early ones left sooner). Two clock reads
   * per request were ~3% of a GET's server time.
   */
  private recordBatch(): void {
    const done = this.batchDone;
    let us = -1;
    for (let i = 0; i < done.length; i++) {
      const n = done[i]!;
      if (n === 0) continue;
      if (us < 0) us = (performance.now() - this.batchStart) * 1000;
      this.server.stats.recordMany(OP_NAMES[i]!, us, n);
      done[i] = 0;
    }
  }

  private onMessage(m: Message): void {
    if (!this.helloDone) {
      this.onHandshake(m);
      return;
    }
    if (m.op === 'HELLO') {
      this.fail(new KvError('KV_BAD_FRAME', 'second HELLO'));
      return;
    }
    if (m.op === 'GET' || m.op === 'PUT' || m.op === 'DELETE' || m.op === 'PING' || m.op === 'STATS' || m.op === 'RING' || m.op === 'AAE_EXCHANGE' || m.op === 'AAE_STATUS') {
      if (this.inFlight >= this.server.options.limits.maxInFlightPerConnection) {
        this.server.stats.error('KV_OVERLOADED');
        this.reply(errorReply(m.streamId, new KvError('KV_OVERLOADED', `more than ${this.server.options.limits.maxInFlightPerConnection} requests in flight`)));
        return;
      }
      this.handle(m);
      return;
    }
    if (m.op === 'NODE' && !m.response) {
      if (this.peerId === undefined) {
        // Node opcodes change replicas directly; a client must go through the coordinator.
        this.server.stats.error('KV_FORBIDDEN');
        this.reply(errorReply(m.streamId, new KvError('KV_FORBIDDEN', `node opcode 0x${m.opcode.toString(16)} on a client connection`)));
        return;
      }
      if (this.inFlight >= this.server.options.limits.maxInFlightPerConnection) {
        this.server.stats.error('KV_OVERLOADED');
        this.reply(errorReply(m.streamId, new KvError('KV_OVERLOADED', `more than ${this.server.options.limits.maxInFlightPerConnection} requests in flight`)));
        return;
      }
      this.handlePeer(this.peerId, m);
      return;
    }
    // A reply sent to a server: nobody asked for it.
    this.fail(new KvError('KV_BAD_FRAME', `unexpected ${m.op} from a ${this.peerId === undefined ? 'client' : 'peer'}`));
  }

  private onHandshake(m: Message): void {
    const security = this.server.options.security;
    if (this.auth !== undefined) {
      if (m.op !== 'AUTH') {
        this.fail(new KvError('KV_AUTH', `${m.op} before authentication finished`));
        return;
      }
      const { session, hello, ok } = this.auth;
      const step = session.step(m.payload);
      if (E.isLeft(step)) {
        this.server.authFailed(`authentication of ${hello.role === 'node' ? `node ${hello.nodeId}` : 'a client'} from ${this.socket.remoteAddress} failed: ${step.left.message}`);
        this.fail(step.left);
        return;
      }
      if (!step.right.done) {
        this.reply({ op: 'AUTH_REPLY', streamId: CONNECTION_STREAM, payload: step.right.payload });
        return;
      }
      this.auth = undefined;
      this.role = step.right.role;
      if (step.right.finalPayload !== undefined) this.reply({ op: 'AUTH_REPLY', streamId: CONNECTION_STREAM, payload: step.right.finalPayload });
      this.server.stats.add('authSucceeded');
      this.completeHello(hello, ok);
      return;
    }
    if (m.op !== 'HELLO') {
      // With authentication configured, anything before it is an authentication failure.
      this.fail(new KvError(security === undefined ? 'KV_BAD_FRAME' : 'KV_AUTH', `${m.op} before HELLO`));
      return;
    }
    const answer = acceptHello(m, {
      nodeId: this.server.options.nodeId,
      limits: this.server.wireLimits,
      ringVersion: this.server.options.ringVersion?.() ?? 0n,
      ...(security !== undefined ? { mechanismFor: (role) => mechanismFor(security, role) } : {}),
    });
    if (E.isLeft(answer)) {
      this.fail(toKvError(answer.left));
      return;
    }
    if (m.authMechanism === '' || security === undefined) {
      this.completeHello(m, answer.right);
      return;
    }
    const started = AcceptorAuth.start(security, m);
    if (E.isLeft(started)) {
      this.fail(started.left);
      return;
    }
    this.auth = { session: started.right.auth, hello: m, ok: answer.right };
    this.reply({ op: 'AUTH_REPLY', streamId: CONNECTION_STREAM, payload: started.right.payload });
  }

  private completeHello(hello: Hello, ok: HelloOk): void {
    clearTimeout(this.handshakeTimer);
    this.helloDone = true;
    if (hello.role === 'node') this.peerId = hello.nodeId;
    this.reply({ ...ok, streamId: hello.streamId });
  }

  private handlePeer(from: string, m: NodeMessage): void {
    const peers = this.server.options.peers;
    if (peers === undefined) {
      this.reply(errorReply(m.streamId, new KvError('KV_UNSUPPORTED', 'this node runs standalone (no cluster)')));
      return;
    }
    this.server.stats.add('peerRequestsIn');
    const answer = peers.handleInbound(from, m);
    // Answered at once (a replica read): written with this batch's flush, no promise.
    if (!(answer instanceof Promise)) {
      this.reply(answer);
      return;
    }
    this.inFlight++;
    this.server.inFlight++;
    answer.then(
      (reply) => {
        this.reply(reply);
        this.settled();
      },
      (e: unknown) => {
        this.reply(errorReply(m.streamId, isKvError(e) ? e : new KvError('KV_INTERNAL', String(e))));
        this.settled();
      },
    );
  }

  private handle(m: Extract<Message, { op: 'GET' | 'PUT' | 'DELETE' | 'PING' | 'STATS' | 'RING' | 'AAE_EXCHANGE' | 'AAE_STATUS' }>): void {
    let result: Reply | Promise<Reply>;
    try {
      result = this.server.execute(m);
    } catch (e) {
      this.failed(m, e);
      return;
    }
    if (!(result instanceof Promise)) {
      this.batchDone[opIndex(m.op)]!++;
      this.reply(result);
      return;
    }
    // Its bytes were read when this chunk was.
    const started = this.batchStart;
    this.inFlight++;
    this.server.inFlight++;
    // One `then` with the bookkeeping in both arms: `.then().finally()` cost
    // three more promises per request.
    result.then(
      (reply) => {
        this.done(m.op, started, reply);
        this.settled();
      },
      (e: unknown) => {
        this.failed(m, e);
        this.settled();
      },
    );
  }

  // Methods rather than closures made per request: a synchronous GET allocates none.
  private done(op: Message['op'], started: number, reply: Reply): void {
    this.server.stats.record(OP_NAMES[opIndex(op)]!, (performance.now() - started) * 1000);
    this.reply(reply);
  }

  private failed(m: Message, e: unknown): void {
    const err = isKvError(e) ? e : new KvError('KV_INTERNAL', 'request failed', { cause: e });
    if (err.code === 'KV_INTERNAL' || err.code === 'KV_CORRUPTION' || err.code === 'KV_IO_ERROR') {
      this.server.log('error', `${m.op} failed: ${(e as Error)?.stack ?? String(e)}`);
    }
    this.server.stats.error(err.code);
    this.reply(errorReply(m.streamId, err));
  }

  /** An asynchronous request finished: its reply goes out with the next flush. */
  private settled(): void {
    this.inFlight--;
    this.server.inFlight--;
    this.scheduleFlush();
    this.server.maybeDrained();
  }

  private reply(r: Reply | NodeMessage): void {
    if (this.socket.destroyed) return;
    try {
      this.writer.write(r);
    } catch (e) {
      // A reply we cannot encode (e.g. bigger than a frame) becomes an error for that stream.
      const err = isKvError(e) ? e : new KvError('KV_INTERNAL', String(e));
      this.writer.write(errorReply(r.streamId, err));
    }
    // Part of a batch goes out now, so the client works on it while we make the rest.
    if (this.writer.pendingFrames >= PIPELINE_FRAMES) this.flush();
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  /** One socket.write for every reply written since the last flush. */
  flush(): void {
    if (this.writer.pendingBytes === 0 || this.socket.destroyed) return;
    const bytes = this.writer.take();
    this.server.bytesOut += bytes.length;
    if (!this.socket.write(bytes) && !this.waitingDrain) {
      this.waitingDrain = true;
      this.socket.pause();
    }
  }

  /** Sends ERROR on stream 0 and closes. */
  fail(e: KvError): void {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.handshakeTimer);
    this.server.stats.error(e.code);
    this.writer.write(errorReply(CONNECTION_STREAM, e));
    this.flush();
    this.socket.end();
    // A peer that never reads must not keep the socket half-open forever.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  /** Graceful close: stop reading, let in-flight replies go out, then end. */
  async drainAndClose(): Promise<void> {
    this.closing = true;
    this.socket.pause();
    clearTimeout(this.handshakeTimer);
    while (this.inFlight > 0) await new Promise((r) => setTimeout(r, 5));
    this.flush();
    this.socket.end();
  }

  private onClose(): void {
    clearTimeout(this.handshakeTimer);
    this.server.connections.delete(this);
  }
}

export class NodeServer {
  readonly options: ServerOptions;
  readonly stats: NodeStats;
  readonly wireLimits: WireLimits;
  readonly connections = new Set<Connection>();
  /** Every accepted socket, TLS handshake done or not: what the connection limits count. */
  private readonly sockets = new Set<Socket>();
  private readonly socketsPerAddress = new Map<string, number>();
  private readonly server: Server;
  private readonly tlsServer: TlsServer | undefined;
  private closing = false;
  inFlight = 0;
  bytesIn = 0;
  bytesOut = 0;
  private drainWaiters: (() => void)[] = [];

  constructor(options: ServerOptions) {
    this.options = options;
    this.stats = options.stats;
    this.wireLimits = {
      maxFrameBytes: options.limits.maxFrameBytes,
      maxKeyBytes: options.limits.maxKeyBytes,
      maxValueBytes: options.limits.maxValueBytes,
      maxInFlight: options.limits.maxInFlightPerConnection,
    };
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server.on('error', (e) => this.log('error', `server: ${e.message}`));
    if (options.tls !== undefined) {
      const tlsServer = handshakeServer(options.tls, options.limits.handshakeTimeoutMs, (s) => this.secured(s));
      tlsServer.on('tlsClientError', (e: Error & { code?: string }, s: TLSSocket) => {
        // Counted, not logged: a flood of bad handshakes must not flood the log.
        // A peer that hangs up mid-handshake (a port probe, a client giving up) is not a failed handshake.
        this.stats.add(e.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'handshakeTimeouts' : e.code === 'ECONNRESET' ? 'tlsHandshakesAbandoned' : 'tlsHandshakeFailures');
        s.destroy();
      });
      this.tlsServer = tlsServer;
    }
    options.stats.gauge('connections', () => this.connections.size);
    options.stats.gauge('socketsOpen', () => this.sockets.size);
    options.stats.gauge('remoteAddresses', () => this.socketsPerAddress.size);
    options.stats.gauge('inFlight', () => this.inFlight);
    options.stats.gauge('bytesIn', () => this.bytesIn);
    options.stats.gauge('bytesOut', () => this.bytesOut);
  }

  log(level: 'info' | 'warn' | 'error', msg: string): void {
    this.options.log?.(level, msg);
  }

  private authFailuresUnlogged = 0;
  private authLogAtMs = 0;

  /**
   * Logs a failed login at most once a second (with how many were not
   * logged since): a password-guessing client must not flood the log.
   */
  authFailed(msg: string): void {
    const nowMs = Date.now();
    if (nowMs < this.authLogAtMs) {
      this.authFailuresUnlogged++;
      return;
    }
    this.authLogAtMs = nowMs + 1000;
    const more = this.authFailuresUnlogged;
    this.authFailuresUnlogged = 0;
    this.log('warn', more > 0 ? `${msg} (and ${more} more failed logins since the last report)` : msg);
  }

  /**
   * New TLS material (rotated certificate, key or CA) for connections
   * accepted from now on; open connections keep the session they have.
   * False when the server does not speak TLS.
   */
  setTls(m: TlsMaterial): boolean {
    if (this.tlsServer === undefined) return false;
    this.tlsServer.setSecureContext({ cert: m.cert, key: m.key, ...(m.ca !== undefined ? { ca: m.ca } : {}) });
    return true;
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.server.once('error', onError);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', onError);
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr !== null ? addr.port : this.options.port);
      });
    });
  }

  private accept(socket: Socket): void {
    const { limits } = this.options;
    const address = socket.remoteAddress ?? '';
    const fromAddress = this.socketsPerAddress.get(address) ?? 0;
    if (this.sockets.size >= limits.maxConnections) {
      this.stats.add('connectionsRefused');
      this.refuse(socket, new KvError('KV_OVERLOADED', `connection limit ${limits.maxConnections} reached`));
      return;
    }
    if (fromAddress >= limits.maxConnectionsPerAddress) {
      this.stats.add('connectionsRefused');
      this.stats.add('connectionsRefusedPerAddress');
      this.refuse(socket, new KvError('KV_OVERLOADED', `connection limit per address ${limits.maxConnectionsPerAddress} reached`));
      return;
    }
    this.sockets.add(socket);
    this.socketsPerAddress.set(address, fromAddress + 1);
    socket.once('close', () => {
      this.sockets.delete(socket);
      const left = (this.socketsPerAddress.get(address) ?? 1) - 1;
      if (left > 0) this.socketsPerAddress.set(address, left);
      else this.socketsPerAddress.delete(address);
    });
    if (this.tlsServer !== undefined) {
      socket.on('error', () => undefined); // the TLSSocket reports; 'close' does the accounting
      this.tlsServer.emit('connection', socket);
      return;
    }
    this.stats.add('connectionsAccepted');
    this.connections.add(new Connection(this, socket));
  }

  /** A TLS handshake finished (and the client certificate, if required, verified). */
  private secured(socket: TLSSocket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.stats.add('connectionsAccepted');
    this.connections.add(new Connection(this, socket));
  }

  /**
   * Refuses a connection over a limit. In plaintext the client learns why
   * (ERROR on stream 0); under TLS it is only closed, as saying why would
   * cost the TLS handshake the limit is there to avoid.
   */
  private refuse(socket: Socket, e: KvError): void {
    this.stats.error(e.code);
    socket.on('error', () => undefined);
    if (this.tlsServer !== undefined) {
      socket.destroy();
      return;
    }
    const writer = new FrameWriter();
    writer.write(errorReply(CONNECTION_STREAM, e));
    socket.end(writer.take());
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /** Runs one request; a plain value when the answer was at hand (no Promise cost). */
  execute(m: Extract<Message, { op: 'GET' | 'PUT' | 'DELETE' | 'PING' | 'STATS' | 'RING' | 'AAE_EXCHANGE' | 'AAE_STATUS' }>): Reply | Promise<Reply> {
    const { service } = this.options;
    switch (m.op) {
      case 'GET': {
        const r = service.get(m.key, m.r, m.timeoutMs);
        return r instanceof Promise ? r.then((res) => getReply(m.streamId, res)) : getReply(m.streamId, r);
      }
      case 'PUT':
      case 'DELETE': {
        // `write` when the service has it: a write the store finished
        // synchronously (memory) is answered with the reads' sync flush,
        // with no promise, lock hold or setImmediate per request.
        const value = m.op === 'PUT' ? m.value : null;
        const r = service.write !== undefined ? service.write(m.key, value, m.context, m.w, m.timeoutMs) : service.put(m.key, value, m.context, m.w, m.timeoutMs);
        const op = m.op === 'PUT' ? 'PUT_REPLY' : 'DELETE_REPLY';
        return r instanceof Promise ? r.then((res) => ({ op, streamId: m.streamId, context: res.context })) : { op, streamId: m.streamId, context: r.context };
      }
      case 'PING':
        return { op: 'PONG', streamId: m.streamId, payload: m.payload };
      case 'STATS':
        return {
          op: 'STATS_REPLY',
          streamId: m.streamId,
          stats: flattenStats({
            ...this.stats.snapshot(Date.now()),
            service: service.stats(),
            limits: this.options.limits,
            tls: { enabled: this.options.tls !== undefined, clientAuthRequired: this.options.tls?.clientAuth === 'require' },
            ...this.options.extraStats?.(),
          }),
        };
      case 'RING':
        if (this.options.ringBody === undefined) throw new KvError('KV_UNSUPPORTED', 'RING is not served by a standalone node');
        return { op: 'RING_REPLY', streamId: m.streamId, body: this.options.ringBody() };
      case 'AAE_EXCHANGE': {
        const run = this.options.aaeExchange;
        if (run === undefined) throw new KvError('KV_UNSUPPORTED', 'AAE_EXCHANGE is not served by a standalone node');
        return run(m.body).then((body) => ({ op: 'AAE_EXCHANGE_REPLY', streamId: m.streamId, body }));
      }
      case 'AAE_STATUS':
        if (this.options.aaeStatus === undefined) throw new KvError('KV_UNSUPPORTED', 'AAE_STATUS is not served by a standalone node');
        return { op: 'AAE_STATUS_REPLY', streamId: m.streamId, body: this.options.aaeStatus() };
    }
  }

  maybeDrained(): void {
    if (this.inFlight === 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Stops accepting, finishes in-flight requests, sends their replies, closes every connection. */
  async close(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.all([...this.connections].map((c) => c.drainAndClose()));
    for (const c of this.connections) c.socket.destroy();
    // Sockets still in their TLS handshake have no Connection to drain.
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

/** STATS carries (name, number) pairs: nested objects become dotted names. */
export const flattenStats = (obj: Record<string, unknown>, prefix = '', out: { name: string; value: number }[] = []): { name: string; value: number }[] => {
  for (const [k, v] of Object.entries(obj)) {
    const name = prefix === '' ? k : `${prefix}.${k}`;
    if (typeof v === 'number') out.push({ name, value: v });
    else if (typeof v === 'boolean') out.push({ name, value: v ? 1 : 0 });
    else if (typeof v === 'object' && v !== null) flattenStats(v as Record<string, unknown>, name, out);
  }
  return out;
};
