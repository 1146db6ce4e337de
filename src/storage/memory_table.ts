/**
 * One memory partition's data, kept where the garbage collector does not
 * look: values live in append-only slabs (a few large Buffers) and the key
 * index maps each key's latin1 string to a small-integer slot whose place
 * and length sit in typed arrays.
 *
 * Why: with a Buffer object per value, every write left a new object that
 * survived (it is stored), so every young-generation collection copied the
 * writes since the last one and the old generation kept filling; under PUT
 * load a node spent 2-4 ms per scavenge and 4-11 ms in mark-compact
 * finalisation, which was the p99.9 of `bench:server` on this backend
 * (7-11 ms, against 1.5-1.9 ms on the log engine, whose data is off-heap).
 * Now a write of an existing key allocates nothing that survives.
 *
 * Bytes are never written twice: an overwrite appends and the old bytes
 * become dead, so a view handed out stays valid (and unchanged) for as long
 * as its holder keeps it; a fold's snapshot is the views taken at its start.
 * When dead bytes outweigh live ones the live values are copied into fresh
 * slabs (compaction, per partition); old views keep their old slab alive.
 */

/**
 * Largest slab; a table's slabs start at MIN_SLAB_BYTES and double, so a
 * partition with a few keys holds kilobytes, not a whole slab. Values larger
 * than BIG_VALUE_BYTES get a Buffer of their own.
 */
const SLAB_BYTES = 256 * 1024;
const MIN_SLAB_BYTES = 4096;
const BIG_VALUE_BYTES = SLAB_BYTES / 8;
/** `slabOf` marker: the value is in `big`. */
const BIG = 0xffff;
/** Compaction runs when dead bytes exceed live ones and this much. */
const COMPACT_MIN_DEAD_BYTES = 4 * SLAB_BYTES;

const EMPTY = Buffer.alloc(0);

export class MemoryTable {
  /** latin1 string of the key → slot. */
  readonly index = new Map<string, number>();
  /** Keys' and values' bytes held (what stats call live). */
  liveBytes = 0;
  /** Slab bytes of overwritten or deleted values, until a compaction. */
  deadBytes = 0;
  private slabs: Buffer[] = [];
  private slab: Buffer = EMPTY;
  private used = 0;
  private nextSlabBytes = MIN_SLAB_BYTES;
  private slabOf = new Uint16Array(1024);
  private offsetOf = new Uint32Array(1024);
  private lengthOf = new Uint32Array(1024);
  private big: (Buffer | undefined)[] = [];
  private readonly free: number[] = [];
  private slots = 0;

  get size(): number {
    return this.index.size;
  }

  /** The value of `id` as a view (valid and unchanged for as long as it is held), or undefined. */
  get(id: string): Buffer | undefined {
    const slot = this.index.get(id);
    return slot === undefined ? undefined : this.view(slot);
  }

  /** Stores a copy of `value` for `id`. */
  put(id: string, value: Uint8Array): void {
    let slot = this.index.get(id);
    if (slot === undefined) {
      slot = this.allocSlot();
      this.index.set(id, slot);
      this.liveBytes += id.length + value.length;
    } else {
      const old = this.lengthOf[slot]!;
      this.liveBytes += value.length - old;
      this.release(slot);
    }
    this.place(slot, value);
    this.maybeCompact();
  }

  /** Removes `id`; false when it was absent. */
  delete(id: string): boolean {
    const slot = this.index.get(id);
    if (slot === undefined) return false;
    this.index.delete(id);
    this.liveBytes -= id.length + this.lengthOf[slot]!;
    this.release(slot);
    this.free.push(slot);
    this.maybeCompact();
    return true;
  }

  private view(slot: number): Buffer {
    const s = this.slabOf[slot]!;
    if (s === BIG) return this.big[slot]!;
    const at = this.offsetOf[slot]!;
    return this.slabs[s]!.subarray(at, at + this.lengthOf[slot]!);
  }

  /** The slot's current bytes become dead (its slab keeps them for views still held). */
  private release(slot: number): void {
    if (this.slabOf[slot] === BIG) this.big[slot] = undefined;
    else this.deadBytes += this.lengthOf[slot]!;
  }

  private place(slot: number, value: Uint8Array): void {
    const n = value.length;
    this.lengthOf[slot] = n;
    if (n === 0 || n > BIG_VALUE_BYTES) {
      // Large values get a Buffer of their own; the empty value is one shared (unwritable) Buffer.
      this.slabOf[slot] = BIG;
      this.big[slot] = n === 0 ? EMPTY : Buffer.from(value);
      return;
    }
    if (this.used + n > this.slab.length) this.newSlab(n);
    this.slab.set(value, this.used);
    this.slabOf[slot] = this.slabs.length - 1;
    this.offsetOf[slot] = this.used;
    this.used += n;
  }

  /** Starts a slab with room for at least `need` bytes; each is twice the last, up to SLAB_BYTES. */
  private newSlab(need: number): void {
    if (this.slabs.length >= BIG - 1) throw new RangeError('memory table: too many slabs');
    const size = Math.max(need, this.nextSlabBytes);
    this.nextSlabBytes = Math.min(SLAB_BYTES, size * 2);
    this.slab = Buffer.allocUnsafeSlow(size);
    this.slabs.push(this.slab);
    this.used = 0;
  }

  private allocSlot(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    const slot = this.slots++;
    if (slot === this.slabOf.length) {
      const grow = <T extends Uint16Array | Uint32Array>(a: T, make: (n: number) => T): T => {
        const b = make(a.length * 2);
        b.set(a);
        return b;
      };
      this.slabOf = grow(this.slabOf, (n) => new Uint16Array(n));
      this.offsetOf = grow(this.offsetOf, (n) => new Uint32Array(n));
      this.lengthOf = grow(this.lengthOf, (n) => new Uint32Array(n));
    }
    return slot;
  }

  /** Copies the live values into fresh slabs once dead bytes outweigh them. */
  private maybeCompact(): void {
    if (this.deadBytes < COMPACT_MIN_DEAD_BYTES || this.deadBytes <= this.liveBytes) return;
    const old = this.slabs;
    this.slabs = [];
    this.slab = EMPTY;
    this.used = 0;
    // Sized for what is live at once (doubling from the minimum would take many small slabs).
    this.nextSlabBytes = Math.min(SLAB_BYTES, Math.max(MIN_SLAB_BYTES, this.liveBytes));
    for (const slot of this.index.values()) {
      const s = this.slabOf[slot]!;
      if (s === BIG) continue;
      const at = this.offsetOf[slot]!;
      const n = this.lengthOf[slot]!;
      if (this.used + n > this.slab.length) this.newSlab(n);
      old[s]!.copy(this.slab, this.used, at, at + n);
      this.slabOf[slot] = this.slabs.length - 1;
      this.offsetOf[slot] = this.used;
      this.used += n;
    }
    this.deadBytes = 0;
  }
}
