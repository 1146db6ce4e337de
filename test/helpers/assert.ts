/**
 * Assertions on the stable error codes (KvError and its subclasses) that the
 * tests of several layers check the same way.
 */
import * as assert from 'uvu/assert';
import { KvError } from '../../src/errors.js';

/**
 * Awaits `p` and asserts it rejects with a `kind` (KvError by default) whose
 * code is `code`; returns that error for further checks.
 */
export const rejectsWithCode = async <T extends KvError = KvError>(p: Promise<unknown>, code: string, kind: abstract new (...args: never[]) => T = KvError as never): Promise<T> => {
  try {
    await p;
  } catch (e) {
    assert.instance(e, kind);
    assert.is((e as T).code, code, (e as Error).message);
    return e as T;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
};

/** Calls `f` and asserts it throws a KvError whose code is `code`. */
export const throwsWithCode = (f: () => unknown, code: string): void => {
  try {
    f();
  } catch (e) {
    assert.instance(e, KvError);
    assert.is((e as KvError).code, code, (e as Error).message);
    return;
  }
  assert.unreachable(`expected ${code}`);
};
