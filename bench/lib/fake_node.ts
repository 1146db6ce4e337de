/**
 * A stand-in node for measuring the SDK alone: it speaks the client protocol
 * (HELLO, GET, PUT, DELETE, PING; RING is refused as a standalone node does)
 * and answers every request from canned replies (one 100-byte sibling and a
 * 20-byte context), with no storage and one socket write per chunk read, so
 * almost all the CPU a benchmark spends is the client's.
 *
 *   node --import tsx bench/lib/fake_node.ts   (prints "PORT <n>", runs until killed)
 *
 * or in-process with `startFakeNode()`: then client and node share one
 * thread, so every batch is the same size whatever else the machine runs,
 * and CPU per op compares SDKs steadily (the node's share is the same for
 * both).
 */
import { createServer, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import { FrameDecoder, FrameWriter, decodeMessage, type Reply } from '../../protocol/index.js';

const value = Buffer.alloc(100, 0x61);
const context = Buffer.alloc(20, 0x63);
const empty = new Uint8Array(0);

const serve = (s: Socket): void => {
  s.setNoDelay(true);
  s.on('error', () => undefined);
  const decoder = new FrameDecoder({ maxFrameBytes: 1 << 24 });
  const w = new FrameWriter();
  s.on('data', (chunk: Buffer) => {
    decoder.push(chunk);
    for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
      const d = decodeMessage(f);
      if (E.isLeft(d)) {
        s.destroy();
        return;
      }
      const m = d.right;
      const id = m.streamId;
      let reply: Reply | undefined;
      switch (m.op) {
        case 'HELLO':
          reply = { op: 'HELLO_OK', streamId: 0, version: 1, nodeId: 'fake', maxFrameBytes: 1 << 24, maxKeyBytes: 1024, maxValueBytes: 1 << 20, maxInFlight: 100_000, ringVersion: 0n };
          break;
        case 'GET':
          reply = { op: 'GET_REPLY', streamId: id, found: true, context, siblings: [{ value, tombstone: false }] };
          break;
        case 'PUT':
          reply = { op: 'PUT_REPLY', streamId: id, context };
          break;
        case 'DELETE':
          reply = { op: 'DELETE_REPLY', streamId: id, context };
          break;
        case 'PING':
          reply = { op: 'PONG', streamId: id, payload: empty };
          break;
        default:
          reply = { op: 'ERROR', streamId: id, code: 'KV_UNSUPPORTED', message: `${m.op} is not served by the fake node`, retryable: false };
      }
      w.write(reply);
    }
    if (w.pendingBytes > 0) s.write(w.take());
  });
};

/** Starts a fake node in this process on a free loopback port. */
export const startFakeNode = async (): Promise<{ readonly port: number; close(): Promise<void> }> => {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    serve(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
};

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void startFakeNode().then((f) => console.log(`PORT ${f.port}`));
}
