/**
 * Who may send what: the one table from request opcode to the least role
 * that may send it. Roles are ordered read < readwrite < admin; a role may
 * do everything a lower one may.
 *
 * Opcodes not listed default to admin: a new client opcode is closed until
 * someone decides it is safe to open (0x30–0x3B are the client admin range:
 * membership, anti-entropy, security). Node opcodes (0x40–0x7F) never reach
 * this table from a client; the server refuses them with KV_FORBIDDEN first.
 */
import { Opcode } from '../../protocol/opcodes.js';

export const ROLES = ['read', 'readwrite', 'admin'] as const;
export type UserRole = (typeof ROLES)[number];

export const isUserRole = (u: unknown): u is UserRole => typeof u === 'string' && (ROLES as readonly string[]).includes(u);

const RANK: Readonly<Record<UserRole, number>> = { read: 0, readwrite: 1, admin: 2 };

export const REQUIRED_ROLE: ReadonlyMap<number, UserRole> = new Map<number, UserRole>([
  [Opcode.PING, 'read'],
  [Opcode.GET, 'read'],
  [Opcode.STATS, 'read'],
  [Opcode.RING, 'read'],
  [Opcode.PUT, 'readwrite'],
  [Opcode.DELETE, 'readwrite'],
]);

/** The least role that may send a request with `opcode`. */
export const requiredRole = (opcode: number): UserRole => REQUIRED_ROLE.get(opcode) ?? 'admin';

// The table as an array indexed by opcode (a u8 on the wire): the check runs on every request of a non-admin user.
const NEEDED_RANK = Uint8Array.from({ length: 256 }, (_, op) => RANK[requiredRole(op)]);

/** True when `role` may send a request with `opcode`. */
export const permits = (role: UserRole, opcode: number): boolean => RANK[role] >= (NEEDED_RANK[opcode] ?? RANK.admin);
