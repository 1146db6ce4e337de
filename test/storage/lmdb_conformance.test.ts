// The lmdb backend against the shared storage conformance suite.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runStorageBackendSuite } from '../../src/storage/conformance.js';
import { createLmdbBackend } from '../../src/storage/lmdb.js';

const dir = mkdtempSync(join(tmpdir(), 'ringkv-lmdb-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

runStorageBackendSuite('lmdb', (d, o) => createLmdbBackend({ dir: d, ...o }), { dir });
