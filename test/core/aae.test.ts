import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { check } from '../helpers/seed.js';
import * as A from '../../src/core/aae.js';

const states: readonly A.CopyState[] = ['same', 'absent', 'older', 'other', 'hinted', 'unreachable'];

test('reapVerdict reaps only when every primary holds the same tombstone and nobody holds anything newer, hinted or unknown', () => {
  check(
    fc.property(fc.array(fc.constantFrom(...states), { minLength: 1, maxLength: 7 }), fc.integer({ min: 1, max: 7 }), (answerStates, nRaw) => {
      const answers = answerStates.map((state, i) => ({ node: `n${i}`, state }));
      const n = Math.min(nRaw, answers.length);
      const primaries = answers.slice(0, n).map((a) => a.node);
      const v = A.reapVerdict(primaries, answers);
      const primariesSame = answers.slice(0, n).every((a) => a.state === 'same');
      const blocker = answers.some((a) => a.state === 'other' || a.state === 'hinted' || a.state === 'unreachable');
      assert.is(v._tag === 'reap', primariesSame && !blocker);
      if (v._tag === 'reap') {
        assert.equal(
          [...v.holders].sort(),
          answers.filter((a) => a.state === 'same' || a.state === 'older').map((a) => a.node).sort(),
        );
      }
    }),
  );
});

test('reapVerdict keeps a tombstone when a primary did not answer at all', () => {
  const v = A.reapVerdict(['a', 'b', 'c'], [{ node: 'a', state: 'same' }, { node: 'b', state: 'same' }]);
  assert.is(v._tag, 'keep');
});

test('take never lets more than burst + rate × elapsed tokens through without waiting', () => {
  check(
    fc.property(
      fc.integer({ min: 1, max: 10_000 }),
      fc.integer({ min: 1, max: 1000 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 1, max: 300 })), { maxLength: 40 }),
      (perSec, burst, steps) => {
        let b = A.bucket(perSec, burst, 0);
        let now = 0;
        let taken = 0;
        for (const [dt, n] of steps) {
          now += dt;
          const t = A.take(b, now, n);
          b = t.bucket;
          taken += n;
          // Everything spent so far is covered once the caller waited as told.
          assert.ok(taken <= burst + (perSec * (now + t.waitMs)) / 1000 + 1e-6);
          now += t.waitMs;
          if (t.waitMs === 0) assert.ok(b.tokens >= -1e-9);
        }
      },
    ),
  );
});

test.run();
