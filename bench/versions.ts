// Micro-benchmarks of the versions core: DVVSet sync and update, context and
// object encode/decode, a get quorum step. Each figure is printed beside a
// baseline measured in the same run (a ratio survives a noisy machine; an
// absolute rate does not).
//
//   node --import tsx bench/versions.ts [--ms 400]
import * as D from '../src/core/dvvset.js';
import * as C from '../src/core/context_codec.js';
import * as Q from '../src/core/quorum.js';

const msArg = process.argv.indexOf('--ms');
const runMs = msArg > 0 ? Number(process.argv[msArg + 1]) : 400;

let sink = 0; // consumed results, so the work cannot be optimised away

/** Operations per second of `op`, after a warm-up, over about `runMs`. */
const measure = (op: () => number): number => {
  for (let i = 0; i < 20_000; i++) sink += op();
  let ops = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(runMs) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 1000; i++) sink += op();
    ops += 1000;
    now = process.hrtime.bigint();
  }
  return ops / (Number(now - start) / 1e9);
};

// Two replicas' versions of one key with 3 entries each (N = 3 coordinators),
// which differ: a has a newer write at n1, b a concurrent sibling at n3.
const value = (s: string): Uint8Array => new TextEncoder().encode(s);
let base: D.Clock<Uint8Array> = D.empty;
for (const id of ['n1', 'n2', 'n3']) base = D.update(D.newWithContext(D.join(base), value(`v-${id}`)), id, base);
const a = D.update(D.newWithContext(D.join(base), value('a')), 'n1', base);
const b = D.update(D.newValue(value('b')), 'n3', base);
const ctx = D.join(D.sync(a, b));
const ctxBytes = C.encodeContext(ctx);
const obj = D.sync(a, b);
const objBytes = C.encodeObject(obj);

// Baseline for sync: the classic version-vector merge (max per id) of the same
// 3-entry vectors as Maps, which tracks no values at all.
const vvA = new Map(D.join(a).map((e) => [e.id, e.counter] as const));
const vvB = new Map(D.join(b).map((e) => [e.id, e.counter] as const));
const vvMerge = (x: ReadonlyMap<string, number>, y: ReadonlyMap<string, number>): Map<string, number> => {
  const out = new Map(x);
  for (const [k, v] of y) if ((out.get(k) ?? 0) < v) out.set(k, v);
  return out;
};

// Baseline for the codec: JSON text of the same context, as UTF-8.
const enc = new TextEncoder();
const dec = new TextDecoder();
const ctxJson = enc.encode(JSON.stringify(ctx));

const rows: [string, number, string, number][] = [
  ['dvvset sync (two 3-entry clocks)', measure(() => D.sync(a, b).length), 'Map version-vector merge', measure(() => vvMerge(vvA, vvB).size)],
  [
    'dvvset update (write with context onto 3-entry clock)',
    measure(() => D.update(D.newWithContext(ctx, obj[0]!.values[0]!), 'n2', obj).length),
    'Map version-vector merge',
    measure(() => vvMerge(vvA, vvB).size),
  ],
  ['context encode (3 entries)', measure(() => C.encodeContext(ctx).length), 'JSON.stringify + TextEncoder', measure(() => enc.encode(JSON.stringify(ctx)).length)],
  [
    'context decode (3 entries)',
    measure(() => (C.decodeContext(ctxBytes).ok ? 1 : 0)),
    'TextDecoder + JSON.parse',
    measure(() => (JSON.parse(dec.decode(ctxJson)) as unknown[]).length),
  ],
  ['object encode (3 entries, 2 siblings)', measure(() => C.encodeObject(obj).length), 'context encode', measure(() => C.encodeContext(ctx).length)],
  ['object decode (3 entries, 2 siblings, copying values)', measure(() => (C.decodeObject(objBytes).ok ? 1 : 0)), 'context decode', measure(() => (C.decodeContext(ctxBytes).ok ? 1 : 0))],
  [
    'get quorum n=3 r=2: init + 3 replies + outcome + finalAction',
    measure(() => {
      let s = Q.initGet<Uint8Array>({ n: 3, r: 2, targets: [{ node: 'n1' }, { node: 'n2' }, { node: 'n3' }] });
      s = Q.addReply(s, 'n1', a);
      s = Q.addReply(s, 'n2', b);
      s = Q.addReply(s, 'n3', null);
      return (Q.outcome(s) === null ? 0 : 1) + Q.finalAction(s).length;
    }),
    'dvvset sync (two 3-entry clocks)',
    measure(() => D.sync(a, b).length),
  ],
];

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
console.log(`versions bench (${runMs} ms per figure, node ${process.version}; context ${ctxBytes.length} B vs JSON ${ctxJson.length} B, object ${objBytes.length} B)`);
console.log('| operation | ops/s | baseline | baseline ops/s | ratio |');
console.log('|---|---:|---|---:|---:|');
for (const [name, rate, baseName, baseRate] of rows) {
  console.log(`| ${name} | ${fmt(rate)} | ${baseName} | ${fmt(baseRate)} | ${(rate / baseRate).toFixed(2)}x |`);
}
if (sink === -1) console.log(sink);
