/**
 * Names shared by the pure core's modules. The core imports nothing from the
 * shell: no `node:*`, no addon, no clock, no randomness. Time, randomness and
 * hashes arrive as arguments.
 */

/** A node's stable identity in the cluster (e.g. `n1` or `127.0.0.1:7401`). */
export type NodeId = string;

/** A ring partition index, 0 ≤ p < Q. */
export type PartitionId = number;

/** Milliseconds on some clock the caller chose (wall or simulated). */
export type Millis = number;

/**
 * A deterministic source of randomness handed to pure functions that need
 * choices (e.g. a gossip peer). `next()` returns a float in [0, 1) and
 * advances the state; the shell gives a seeded one in simulation.
 */
export interface Random {
  next(): number;
}
