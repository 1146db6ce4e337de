/** Starts in-process nodes on loopback for tests, each with its own temp data dir. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { defaultConfig, type NodeConfig, type Limits } from '../../src/node/config.js';
import { startNode, type RunningNode } from '../../src/node/node.js';
import { FrameDecoder, FrameWriter, decodeMessage, type Message } from '../../protocol/index.js';
import * as E from 'fp-ts/lib/Either.js';

export interface TestNode extends RunningNode {
  readonly dir: string;
  readonly address: string;
  /** Closes the node and removes its data. */
  destroy(): Promise<void>;
}

export const startTestNode = async (
  overrides: Partial<Omit<NodeConfig, 'limits'>> & { limits?: Partial<Limits> } = {},
  dir = mkdtempSync(join(tmpdir(), 'ringkv-node-')),
): Promise<TestNode> => {
  const config: NodeConfig = {
    ...defaultConfig,
    backend: 'memory',
    port: 0,
    dataDir: dir,
    ...overrides,
    limits: { ...defaultConfig.limits, ...overrides.limits },
  };
  const node = await startNode(config);
  return {
    ...node,
    close: () => node.close(),
    dir,
    address: `127.0.0.1:${node.port}`,
    destroy: async () => {
      await node.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

/** A raw protocol connection for tests that misbehave on purpose. */
export class RawConn {
  readonly socket: Socket;
  private readonly decoder = new FrameDecoder({ maxFrameBytes: 64 * 1024 * 1024 });
  private readonly messages: Message[] = [];
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => {
      this.decoder.push(c);
      try {
        for (let f = this.decoder.next(); f !== undefined; f = this.decoder.next()) {
          const m = decodeMessage(f);
          if (E.isRight(m)) this.messages.push(m.right);
        }
      } catch {
        this.socket.destroy(); // a bad frame from the node: the test sees a closed connection
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }

  static open(port: number): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => resolve(new RawConn(s)));
      s.once('error', reject);
    });
  }

  send(...ms: Message[]): void {
    const w = new FrameWriter();
    for (const m of ms) w.write(m);
    this.socket.write(w.take());
  }

  sendBytes(b: Uint8Array): void {
    this.socket.write(b);
  }

  async hello(): Promise<Message> {
    this.send({ op: 'HELLO', streamId: 0, minVersion: 1, maxVersion: 1, role: 'client', clientName: 'test', nodeId: '', authMechanism: '', authPayload: new Uint8Array(0) });
    return this.next();
  }

  /** The next message, or throws when the connection closed first (or after 5 s). */
  async next(): Promise<Message> {
    const deadline = Date.now() + 5000;
    while (this.messages.length === 0) {
      if (this.closed) throw new Error('connection closed');
      if (Date.now() > deadline) throw new Error('no message within 5 s');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
    return this.messages.shift()!;
  }

  /** Resolves true once the peer closed the connection (false after 5 s). */
  async waitClosed(ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}
