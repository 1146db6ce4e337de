import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runFuzz } from '../fuzz/long.js';
import { FIXED_SEED, runSeed } from '../helpers/seed.js';

// 120k inputs from the fixed seed (reproducible) plus 30k from the run's seed
// (new ground each run; replay with the printed RINGKV_SEED).
test('fuzz: 120k inputs from the fixed seed never break the decoder', () => {
  const stats = runFuzz({ inputs: 120_000, seed: FIXED_SEED });
  assert.is(stats.inputs, 120_000);
  // The mutations reach every outcome: decoded messages, frame refusals, body refusals.
  assert.ok(stats.messages > 1000);
  for (const k of ['frame KV_BAD_FRAME', 'frame KV_TOO_LARGE', 'message KV_BAD_FRAME', 'message KV_UNSUPPORTED', 'message KV_TOO_LARGE']) {
    assert.ok((stats.outcomes[k] ?? 0) > 0, k);
  }
});

test('fuzz: 30k inputs from the run seed', () => {
  assert.is(runFuzz({ inputs: 30_000, seed: runSeed() }).inputs, 30_000);
});

test.run();
