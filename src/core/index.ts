/**
 * The pure core's public barrel (`ringkv/core`). Each module is exported as a
 * namespace, as fp-ts's index does, because the modules share combinator
 * names (`empty`, `equals`, `merge`, `invalid…`) that a flat re-export would
 * make collide: `import { merkle, membership } from 'ringkv/core'`, then
 * `merkle.compare(a, b)`. The shared names of types.ts and the stable error
 * codes of error_codes.ts are exported flat.
 */
export * from './types.js';
export * from './error_codes.js';
export * as ring from './ring.js';
export * as claim from './claim.js';
export * as handoff from './handoff.js';
export * as dvvset from './dvvset.js';
export * as contextCodec from './context_codec.js';
export * as quorum from './quorum.js';
export * as merkle from './merkle.js';
export * as membership from './membership.js';
export * as phi from './phi.js';
export * as aae from './aae.js';
export * as ringPlan from './ring_plan.js';
