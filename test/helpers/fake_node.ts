/**
 * A node stand-in for SDK tests: answers HELLO, and answers each PING the
 * `answer` predicate allows (given the stream id and how many PINGs came
 * before), leaving the others unanswered so they time out. Counts PINGs.
 */
import { createServer, type Server, type Socket } from 'node:net';
import * as E from 'fp-ts/lib/Either.js';
import { FrameDecoder, FrameWriter, decodeMessage } from '../../protocol/index.js';

export interface FakeNode {
  readonly server: Server;
  readonly port: number;
  readonly sockets: Socket[];
  /** PINGs received so far. */
  pings(): number;
  /** Closes the listener and every connection it accepted. */
  stop(): Promise<void>;
}

export const startFakeNode = async (options: { readonly port?: number; readonly answer?: (streamId: number, seen: number) => boolean } = {}): Promise<FakeNode> => {
  const answer = options.answer ?? (() => true);
  const sockets: Socket[] = [];
  let seen = 0;
  const server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
    s.on('data', (chunk) => {
      decoder.push(chunk);
      const w = new FrameWriter();
      for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
        const m = decodeMessage(f);
        if (E.isLeft(m)) continue;
        const msg = m.right;
        if (msg.op === 'HELLO') {
          w.write({ op: 'HELLO_OK', streamId: 0, version: 1, nodeId: 'fake', maxFrameBytes: 1 << 20, maxKeyBytes: 1024, maxValueBytes: 1 << 20, maxInFlight: 1000, ringVersion: 0n });
        } else if (msg.op === 'PING' && answer(msg.streamId, seen++)) {
          w.write({ op: 'PONG', streamId: msg.streamId, payload: new Uint8Array(0) });
        }
      }
      if (w.pendingBytes > 0) s.write(w.take());
    });
  });
  await new Promise<void>((r) => server.listen(options.port ?? 0, '127.0.0.1', r));
  return {
    server,
    port: (server.address() as { port: number }).port,
    sockets,
    pings: () => seen,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
};
