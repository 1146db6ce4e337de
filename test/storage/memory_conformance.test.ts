// The memory backend against the shared storage conformance suite.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runStorageBackendSuite } from '../../src/storage/conformance.js';
import { createMemoryBackend } from '../../src/storage/memory.js';

const dir = mkdtempSync(join(tmpdir(), 'ringkv-memory-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

runStorageBackendSuite('memory', (d, o) => createMemoryBackend({ dir: d, ...o }), { dir });
