// The log backend against the shared storage conformance suite, with the
// default file size and with tiny files (so rotation, hints and merge are in
// play under the same contract).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runStorageBackendSuite } from '../../src/storage/conformance.js';
import { createLogBackend } from '../../src/storage/log.js';

const dir = mkdtempSync(join(tmpdir(), 'ringkv-log-conformance-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

runStorageBackendSuite('log', (d, o) => createLogBackend({ dir: d, ...o }), { dir: join(dir, 'default') });
runStorageBackendSuite(
  'log (4 KiB files, eager merge)',
  (d, o) => createLogBackend({ dir: d, maxFileBytes: 4096, mergeCheckIntervalMs: 1, ...o }),
  { dir: join(dir, 'small') },
);
