/** The deterministic cluster simulation: one seed, one process, the real node code. */
export { SeededRandom } from './random.js';
export { Scheduler, SimClock } from './scheduler.js';
export { SimNetwork, SimTransport, calmNetwork, type NetworkFaults } from './network.js';
export { FencedBackend } from './storage.js';
export { World, type NodeFactory, type SimNode, type WorldOptions } from './world.js';
export { runScenario, simConfig, type ScenarioOptions, type ScenarioResult } from './scenario.js';
export { NaiveNode } from './naive_node.js';
