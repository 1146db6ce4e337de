/**
 * `ringkv dev` (what `npm start` runs): a local cluster of separate node
 * processes on loopback, with their data under one directory. Ctrl-C (or
 * SIGTERM) stops every node gracefully and waits for them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from 'node:net';

const waitForPort = (host: string, port: number, timeoutMs: number): Promise<boolean> =>
  new Promise((done) => {
    const deadline = Date.now() + timeoutMs;
    const attempt = () => {
      const s = connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        done(true);
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) done(false);
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });

export const runDev = async (args: readonly string[]): Promise<number> => {
  const { values } = parseArgs({
    args: [...args],
    options: {
      nodes: { type: 'string', default: '1' },
      'base-port': { type: 'string', default: '7401' },
      data: { type: 'string', default: './ringkv-dev-data' },
      backend: { type: 'string' },
      durability: { type: 'string' },
    },
    strict: true,
  });
  const count = Number(values.nodes);
  const basePort = Number(values['base-port']);
  if (!Number.isInteger(count) || count < 1 || count > 16) throw new Error('--nodes must be 1..16');
  if (!Number.isInteger(basePort) || basePort < 1 || basePort + count > 65535) throw new Error('--base-port out of range');
  const dataDir = resolve(values.data);
  mkdirSync(dataDir, { recursive: true });
  const host = '127.0.0.1';
  const cli = process.argv[1]!;
  const children: ChildProcess[] = [];
  let stopping = false;

  const stopAll = async (code: number): Promise<number> => {
    stopping = true;
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((done) => {
            if (c.exitCode !== null || c.signalCode !== null) return done();
            c.once('exit', () => done());
            c.kill('SIGTERM');
            setTimeout(() => c.kill('SIGKILL'), 10_000).unref();
          }),
      ),
    );
    return code;
  };

  for (let i = 0; i < count; i++) {
    const port = basePort + i;
    const nodeArgs = ['start', '--host', host, '--port', String(port), '--data', join(dataDir, `n${i + 1}`), '--node-id', `n${i + 1}`, '--quiet'];
    if (values.backend) nodeArgs.push('--backend', values.backend);
    if (values.durability) nodeArgs.push('--durability', values.durability);
    const child = spawn(process.execPath, [...process.execArgv, cli, ...nodeArgs], { stdio: ['ignore', 'inherit', 'inherit'] });
    children.push(child);
    child.on('exit', (code, signal) => {
      if (!stopping) console.error(`ringkv dev: node n${i + 1} (port ${port}) exited (${signal ?? code}); the others keep running`);
    });
  }

  const ready = await Promise.all(children.map((_, i) => waitForPort(host, basePort + i, 15_000)));
  if (ready.some((r) => !r)) {
    console.error('ringkv dev: some nodes did not start; stopping');
    return stopAll(3);
  }
  const addrs = children.map((_, i) => `${host}:${basePort + i}`);
  console.log(`ringkv dev: ${count} node${count > 1 ? 's' : ''} up, data in ${dataDir}`);
  addrs.forEach((a, i) => console.log(`  n${i + 1}  ${a}`));
  if (count > 1) console.log('  (nodes run standalone until clustering lands: each holds its own keys)');
  console.log(`try:  npx ringkv put hello world --nodes ${addrs.join(',')}`);
  console.log(`      npx ringkv get hello --nodes ${addrs.join(',')}`);
  console.log('Ctrl-C stops the cluster.');

  return new Promise<number>((done) => {
    const stop = () => {
      if (stopping) return;
      console.log('\nringkv dev: stopping nodes…');
      void stopAll(0).then(done);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
};
