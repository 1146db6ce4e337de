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
 * An overwrite of a key writes into the key's spare region (the place its
 * value before last had) when that is big enough, and the current region
 * becomes the spare; otherwise it appends and the current region becomes
 * the spare. So a view handed out stays unchanged through the key's next
 * write (a read-modify-write reads the stored bytes, writes once, then tells
 * its observer both) but not through the one after; a holder that keeps
 * views longer pins the table (`pin`), and while it is pinned every write
 * appends, as a fold's snapshot (the views taken at its start) needs.
 *
 * Why reuse at all: appending made every write allocate slab memory
 * (a 256 KiB slab per ~2,000 writes of 130 bytes), and V8 reclaims those
 * ArrayBuffers only with a mark-compact: a memory node under PUT load ran
 * one every 0.3-0.6 s (2-11 ms pauses, plus weak-callback passes), which was
 * its p99.9. Writing in place took that to 2 in the same run.
 *
 * When bytes held by nothing (not a current value, not a spare) outweigh the
 * live ones the live values are copied into fresh slabs (compaction, per
 * partition), spares dropped; old views keep their old slab alive, and old
 * slabs are never written again.
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
/** `spareSlabOf` marker: the slot has no spare region. */
const NO_SPARE = 0xffff;
/** Compaction runs when lost bytes (neither current nor spare) exceed live ones and this much. */
const COMPACT_MIN_DEAD_BYTES = 4 * SLAB_BYTES;

const EMPTY = Buffer.alloc(0);

export class MemoryTable {
  /** latin1 string of the key → slot. */
  readonly index = new Map<string, number>();
  /** Keys' and values' bytes held (what stats call live). */
  liveBytes = 0;
  /** Slab bytes that hold no current value (spares included), until a compaction. */
  get deadBytes(): number {
    return this.lostBytes + this.spareBytes;
  }
  /** Slab bytes neither a current value nor a spare (and current regions' unused tails): what compaction reclaims. */
  lostBytes = 0;
  /** Capacity of every spare region. */
  spareBytes = 0;
  /** Holders of views that must outlive more than one write per key (folds); while > 0 every write appends. */
  private pins = 0;
  private slabs: Buffer[] = [];
  private slab: Buffer = EMPTY;
  private used = 0;
  private nextSlabBytes = MIN_SLAB_BYTES;
  private slabOf = new Uint16Array(1024);
  private offsetOf = new Uint32Array(1024);
  private lengthOf = new Uint32Array(1024);
  /** Bytes of the current region (≥ lengthOf). */
  private capOf = new Uint32Array(1024);
  private spareSlabOf = new Uint16Array(1024).fill(NO_SPARE);
  private spareOffsetOf = new Uint32Array(1024);
  private spareCapOf = new Uint32Array(1024);
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

  /**
   * Until `unpin`, every write appends, so every view handed out stays
   * unchanged however often its key is written (a fold's snapshot).
   */
  pin(): void {
    this.pins++;
  }

  unpin(): void {
    if (this.pins > 0) this.pins--;
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
      if (this.reuseSpare(slot, value)) return;
      this.release(slot);
    }
    this.place(slot, value);
    this.maybeCompact();
  }

  /** Writes `value` into the slot's spare region and swaps it with the current one; false when it cannot. */
  private reuseSpare(slot: number, value: Uint8Array): boolean {
    const n = value.length;
    const spare = this.spareSlabOf[slot]!;
    const spareCap = this.spareCapOf[slot]!;
    // A value much smaller than the spare takes a fitting region, so a key that shrank does not hold its old size.
    if (this.pins > 0 || spare === NO_SPARE || n === 0 || n > spareCap || 2 * n < spareCap || this.slabOf[slot] === BIG) return false;
    const at = this.spareOffsetOf[slot]!;
    this.slabs[spare]!.set(value, at);
    const oldCap = this.capOf[slot]!;
    // Slack of the new current region is lost; the old current region becomes the spare.
    this.lostBytes += spareCap - n - (oldCap - this.lengthOf[slot]!);
    this.spareBytes += oldCap - spareCap;
    this.spareSlabOf[slot] = this.slabOf[slot]!;
    this.spareOffsetOf[slot] = this.offsetOf[slot]!;
    this.spareCapOf[slot] = oldCap;
    this.slabOf[slot] = spare;
    this.offsetOf[slot] = at;
    this.capOf[slot] = spareCap;
    this.lengthOf[slot] = n;
    return true;
  }

  /** Removes `id`; false when it was absent. */
  delete(id: string): boolean {
    const slot = this.index.get(id);
    if (slot === undefined) return false;
    this.index.delete(id);
    this.liveBytes -= id.length + this.lengthOf[slot]!;
    this.release(slot);
    // A freed slot keeps no regions: its bytes are never written again.
    this.dropSpare(slot);
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

  /**
   * The slot's current region stops being current (its slab keeps the bytes
   * for views still held): it becomes the slot's spare, and the spare it
   * replaces is lost.
   */
  private release(slot: number): void {
    if (this.slabOf[slot] === BIG) {
      this.big[slot] = undefined;
      return;
    }
    this.dropSpare(slot);
    const cap = this.capOf[slot]!;
    if (cap === 0) return;
    this.lostBytes -= cap - this.lengthOf[slot]!;
    this.spareBytes += cap;
    this.spareSlabOf[slot] = this.slabOf[slot]!;
    this.spareOffsetOf[slot] = this.offsetOf[slot]!;
    this.spareCapOf[slot] = cap;
  }

  private dropSpare(slot: number): void {
    if (this.spareSlabOf[slot] === NO_SPARE) return;
    const cap = this.spareCapOf[slot]!;
    this.spareBytes -= cap;
    this.lostBytes += cap;
    this.spareSlabOf[slot] = NO_SPARE;
  }

  private place(slot: number, value: Uint8Array): void {
    const n = value.length;
    this.lengthOf[slot] = n;
    if (n === 0 || n > BIG_VALUE_BYTES) {
      // Large values get a Buffer of their own; the empty value is one shared (unwritable) Buffer.
      this.slabOf[slot] = BIG;
      this.capOf[slot] = 0;
      this.big[slot] = n === 0 ? EMPTY : Buffer.from(value);
      return;
    }
    if (this.used + n > this.slab.length) this.newSlab(n);
    this.slab.set(value, this.used);
    this.slabOf[slot] = this.slabs.length - 1;
    this.offsetOf[slot] = this.used;
    this.capOf[slot] = n;
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
      this.capOf = grow(this.capOf, (n) => new Uint32Array(n));
      this.spareSlabOf = grow(this.spareSlabOf, (n) => new Uint16Array(n).fill(NO_SPARE));
      this.spareOffsetOf = grow(this.spareOffsetOf, (n) => new Uint32Array(n));
      this.spareCapOf = grow(this.spareCapOf, (n) => new Uint32Array(n));
    }
    return slot;
  }

  /** Copies the live values into fresh slabs once bytes held by nothing outweigh them. */
  private maybeCompact(): void {
    if (this.lostBytes < COMPACT_MIN_DEAD_BYTES || this.lostBytes <= this.liveBytes) return;
    const old = this.slabs;
    this.slabs = [];
    this.slab = EMPTY;
    this.used = 0;
    // Sized for what is live at once (doubling from the minimum would take many small slabs).
    this.nextSlabBytes = Math.min(SLAB_BYTES, Math.max(MIN_SLAB_BYTES, this.liveBytes));
    for (const slot of this.index.values()) {
      // Spares point into the old slabs: none survive a compaction.
      this.spareSlabOf[slot] = NO_SPARE;
      const s = this.slabOf[slot]!;
      if (s === BIG) continue;
      const at = this.offsetOf[slot]!;
      const n = this.lengthOf[slot]!;
      if (this.used + n > this.slab.length) this.newSlab(n);
      old[s]!.copy(this.slab, this.used, at, at + n);
      this.slabOf[slot] = this.slabs.length - 1;
      this.offsetOf[slot] = this.used;
      this.capOf[slot] = n;
      this.used += n;
    }
    this.lostBytes = 0;
    this.spareBytes = 0;
  }
}
