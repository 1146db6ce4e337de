// The keydir: key -> where its newest record lives.
//
// Bitcask keeps one heap object per key (~91 bytes + key). Here a key costs a
// 20-byte packed entry (plus the key bytes, padded to 4) in a chunked arena,
// and one 8-byte slot in an open-addressing table (linear probing, at most
// 80% full), so ~36-56 bytes plus the key at any size. Slots hold a 32-bit
// arena reference and the low 32 bits of the key's xxh3 hash, so a probe
// touches the arena only when the hash matches. Used from one thread only.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace ringkv {
namespace log {

struct Loc {
  uint32_t file = 0;  // in-memory file id (index into the store's file table)
  uint32_t offset = 0;
  uint32_t value_bytes = 0;
  uint64_t timestamp = 0;  // kept to 48 bits (ms since epoch: good until year 10889)
};

class Keydir {
 public:
  Keydir();
  Keydir(const Keydir&) = delete;
  Keydir& operator=(const Keydir&) = delete;

  bool find(const uint8_t* key, size_t key_bytes, Loc* out) const;
  // Inserts or overwrites; returns whether the key existed (and its old Loc).
  bool put(const uint8_t* key, size_t key_bytes, const Loc& loc, Loc* previous);
  bool remove(const uint8_t* key, size_t key_bytes, Loc* previous);
  // Moves the key to `loc` only if it still lives at (file, offset): merge's
  // swap must not undo a write that happened while it ran.
  bool replace_if(const uint8_t* key, size_t key_bytes, uint32_t file, uint32_t offset, const Loc& loc);

  size_t size() const { return count_; }
  // Every byte the keydir holds on the heap (table + arena chunks + vectors).
  size_t memory_bytes() const;

  // Visits (key, key_bytes, loc) for every key, in no order.
  template <typename F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_) {
      if (s.ref == kEmpty) continue;
      const uint8_t* e = entry(s.ref);
      Loc loc;
      read_loc(e, &loc);
      f(e + kEntryHeader, key_bytes_of(e), loc);
    }
  }

 private:
  struct Slot {
    uint32_t ref;
    uint32_t tag;
  };
  struct Chunk {
    std::unique_ptr<uint8_t[]> bytes;
    uint32_t capacity;
    uint32_t used;
  };
  static constexpr uint32_t kEmpty = 0xffffffffu;
  static constexpr size_t kEntryHeader = 20;
  static constexpr uint32_t kChunkShift = 20;  // word offset bits in a ref
  static constexpr size_t kMaxChunks = 4095;   // chunk 4095 would make kEmpty a valid ref
  static constexpr uint32_t kMaxChunkBytes = 1u << 20;
  static constexpr uint32_t kFirstChunkBytes = 16u << 10;

  static size_t entry_bytes(size_t key_bytes) { return (kEntryHeader + key_bytes + 3) & ~size_t{3}; }
  static size_t key_bytes_of(const uint8_t* e);
  static void read_loc(const uint8_t* e, Loc* loc);
  static void write_loc(uint8_t* e, const Loc& loc);

  uint8_t* entry(uint32_t ref) const {
    return chunks_[ref >> kChunkShift].bytes.get() + (static_cast<size_t>(ref & ((1u << kChunkShift) - 1)) << 2);
  }
  // Index of the slot holding the key, or SIZE_MAX.
  size_t lookup(const uint8_t* key, size_t key_bytes, uint32_t tag) const;
  uint32_t allocate(size_t bytes, std::vector<Chunk>* chunks) const;
  void grow_table();
  void compact_arena();

  std::vector<Slot> slots_;
  size_t mask_;
  size_t count_ = 0;
  std::vector<Chunk> chunks_;
  size_t arena_used_bytes_ = 0;     // bytes handed out in the arena
  size_t arena_garbage_bytes_ = 0;  // of which belong to removed keys
};

}  // namespace log
}  // namespace ringkv
