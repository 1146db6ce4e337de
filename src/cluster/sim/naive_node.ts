/**
 * A deliberately simple ClusterNodeApi for testing the simulation harness
 * itself (and as the smallest example of what the world drives): every
 * node holds every key; a put is coordinated locally, acknowledged at once
 * (W = 1) and pushed to every peer; a timer re-pushes every key this node
 * holds to every peer (crude anti-entropy) so replicas converge once the
 * network is quiet. No ring, no quorum, no gossip: it is not the cluster,
 * only a node whose convergence is easy to reason about.
 */
import * as D from '../../core/dvvset.js';
import { decodeObject, encodeContext, encodeObject } from '../../core/context_codec.js';
import type { NodeId } from '../../core/types.js';
import { KvError } from '../../errors.js';
import { tagValue, tombstone } from '../../node/replica.js';
import { clientContext, toReadResult, type ReadResult, type WriteResult } from '../../node/service.js';
import type { PeerReply, PeerRequest } from '../../../protocol/peer_messages.js';
import type { ClusterNodeApi, ClusterNodeOptions, ClusterStatus } from '../api.js';
import type { Timer } from '../effects.js';

export interface NaiveNodeOptions {
  readonly peers: readonly NodeId[];
  readonly pushIntervalMs: number;
}

export class NaiveNode implements ClusterNodeApi {
  private timer: Timer | undefined;
  private readonly keys = new Map<string, Uint8Array>();
  private stopped = false;

  constructor(
    private readonly o: ClusterNodeOptions,
    private readonly naive: NaiveNodeOptions,
  ) {}

  async start(): Promise<void> {
    this.o.transport.serve((from, req) => this.handlePeer(from, req));
    // Keys this node stored before a restart are on its disk: find them again.
    for (const p of await this.o.replica.backend.partitions()) {
      const store = await this.o.replica.store(p);
      await store.fold((k) => void this.keys.set(Buffer.from(k).toString('latin1'), Buffer.from(k)), { keysOnly: true });
    }
    this.arm();
  }

  private arm(): void {
    if (this.stopped) return;
    this.timer = this.o.clock.setTimer(this.naive.pushIntervalMs, () => {
      void this.pushAll().finally(() => this.arm());
    });
  }

  private async pushAll(): Promise<void> {
    for (const key of [...this.keys.values()]) {
      const obj = await this.o.replica.read(key);
      if (obj !== null) this.push(key, obj);
    }
  }

  private push(key: Uint8Array, obj: D.Clock<Uint8Array>): void {
    const request: PeerRequest = { type: 'REPLICA_PUT', partition: this.o.replica.partitionOf(key), key, object: encodeObject(obj), hintFor: '' };
    for (const peer of this.naive.peers) {
      if (peer !== this.o.nodeId) this.o.transport.request(peer, request, this.o.config.peerTimeoutMs).catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
  }

  async handlePeer(_from: NodeId, request: PeerRequest): Promise<PeerReply> {
    switch (request.type) {
      case 'REPLICA_PUT': {
        const d = decodeObject(request.object);
        if (!d.ok) throw new KvError('KV_BAD_ARGUMENT', d.reason);
        this.keys.set(Buffer.from(request.key).toString('latin1'), request.key);
        await this.o.replica.merge(request.key, d.value);
        return { type: 'ACK', count: 1 };
      }
      case 'REPLICA_GET': {
        const obj = await this.o.replica.read(request.key);
        return { type: 'REPLICA_GET_REPLY', found: obj !== null, object: obj === null ? new Uint8Array(0) : encodeObject(obj) };
      }
      default:
        throw new KvError('KV_UNSUPPORTED', `naive node does not handle ${request.type}`);
    }
  }

  async get(key: Uint8Array): Promise<ReadResult> {
    return toReadResult(await this.o.replica.read(key));
  }

  async put(key: Uint8Array, value: Uint8Array | null, context: Uint8Array): Promise<WriteResult> {
    const ctx = clientContext(context);
    this.keys.set(Buffer.from(key).toString('latin1'), key);
    const obj = await this.o.replica.coordinate(key, D.newWithContext(ctx, value === null ? tombstone() : tagValue(value)));
    this.push(key, obj);
    return { context: encodeContext(D.join(obj)) };
  }

  stats(): Record<string, number> {
    return { keys: this.keys.size };
  }

  status(): ClusterStatus {
    return { nodeId: this.o.nodeId, ringVersion: '0', members: [], partitionsHeld: 0, hintsPending: {} };
  }

  ringVersion(): bigint {
    return 0n;
  }

  memberCount(): number {
    return this.naive.peers.length;
  }
}
