#include "log_keydir.h"

#include <cstring>

#include "hash.h"
#include "log_format.h"

namespace ringkv {
namespace log {

// Entry layout in the arena (little-endian, 4-byte aligned):
//   u32 file, u32 offset, u32 value_bytes, u32 timestamp low, u16 timestamp high, u16 key_bytes, key
namespace {
constexpr size_t kInitialSlots = 16;
}

Keydir::Keydir() : slots_(kInitialSlots, Slot{kEmpty, 0}), mask_(kInitialSlots - 1) {}

size_t Keydir::key_bytes_of(const uint8_t* e) { return get_u16(e + 18); }

void Keydir::read_loc(const uint8_t* e, Loc* loc) {
  loc->file = get_u32(e);
  loc->offset = get_u32(e + 4);
  loc->value_bytes = get_u32(e + 8);
  loc->timestamp = static_cast<uint64_t>(get_u32(e + 12)) | (static_cast<uint64_t>(get_u16(e + 16)) << 32);
}

void Keydir::write_loc(uint8_t* e, const Loc& loc) {
  put_u32(e, loc.file);
  put_u32(e + 4, loc.offset);
  put_u32(e + 8, loc.value_bytes);
  put_u32(e + 12, static_cast<uint32_t>(loc.timestamp));
  put_u16(e + 16, static_cast<uint16_t>(loc.timestamp >> 32));
}

size_t Keydir::lookup(const uint8_t* key, size_t key_bytes, uint32_t tag) const {
  size_t i = tag & mask_;
  for (;;) {
    const Slot& s = slots_[i];
    if (s.ref == kEmpty) return SIZE_MAX;
    if (s.tag == tag) {
      const uint8_t* e = entry(s.ref);
      if (key_bytes_of(e) == key_bytes && std::memcmp(e + kEntryHeader, key, key_bytes) == 0) return i;
    }
    i = (i + 1) & mask_;
  }
}

bool Keydir::find(const uint8_t* key, size_t key_bytes, Loc* out) const {
  uint32_t tag = static_cast<uint32_t>(key_hash(key, key_bytes));
  size_t i = lookup(key, key_bytes, tag);
  if (i == SIZE_MAX) return false;
  read_loc(entry(slots_[i].ref), out);
  return true;
}

uint32_t Keydir::allocate(size_t bytes, std::vector<Chunk>* chunks) const {
  if (chunks->empty() || chunks->back().capacity - chunks->back().used < bytes) {
    if (chunks->size() >= kMaxChunks) throw StoreError(Status::kTooLarge, "keydir arena is full");
    uint32_t capacity = chunks->empty() ? kFirstChunkBytes : chunks->back().capacity * 2;
    if (capacity > kMaxChunkBytes) capacity = kMaxChunkBytes;
    while (capacity < bytes) capacity *= 2;
    chunks->push_back(Chunk{std::unique_ptr<uint8_t[]>(new uint8_t[capacity]), capacity, 0});
  }
  Chunk& c = chunks->back();
  uint32_t ref = (static_cast<uint32_t>(chunks->size() - 1) << kChunkShift) | (c.used >> 2);
  c.used += static_cast<uint32_t>(bytes);
  return ref;
}

bool Keydir::put(const uint8_t* key, size_t key_bytes, const Loc& loc, Loc* previous) {
  uint32_t tag = static_cast<uint32_t>(key_hash(key, key_bytes));
  size_t i = lookup(key, key_bytes, tag);
  if (i != SIZE_MAX) {
    // Same key, same entry size: overwrite in place, no garbage.
    uint8_t* e = entry(slots_[i].ref);
    if (previous != nullptr) read_loc(e, previous);
    write_loc(e, loc);
    return true;
  }
  if ((count_ + 1) * 5 > slots_.size() * 4) grow_table();
  size_t bytes = entry_bytes(key_bytes);
  uint32_t ref = allocate(bytes, &chunks_);
  arena_used_bytes_ += bytes;
  uint8_t* e = entry(ref);
  write_loc(e, loc);
  put_u16(e + 18, static_cast<uint16_t>(key_bytes));
  if (key_bytes > 0) std::memcpy(e + kEntryHeader, key, key_bytes);
  size_t j = tag & mask_;
  while (slots_[j].ref != kEmpty) j = (j + 1) & mask_;
  slots_[j] = Slot{ref, tag};
  count_++;
  return false;
}

bool Keydir::remove(const uint8_t* key, size_t key_bytes, Loc* previous) {
  uint32_t tag = static_cast<uint32_t>(key_hash(key, key_bytes));
  size_t i = lookup(key, key_bytes, tag);
  if (i == SIZE_MAX) return false;
  if (previous != nullptr) read_loc(entry(slots_[i].ref), previous);
  arena_garbage_bytes_ += entry_bytes(key_bytes);
  // Backward-shift deletion keeps linear probing free of tombstones: pull
  // later members of the probe run into the hole when their home allows it.
  size_t hole = i;
  size_t j = (i + 1) & mask_;
  while (slots_[j].ref != kEmpty) {
    size_t home = slots_[j].tag & mask_;
    // Move j into hole when home is not cyclically in (hole, j].
    bool in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!in_range) {
      slots_[hole] = slots_[j];
      hole = j;
    }
    j = (j + 1) & mask_;
  }
  slots_[hole] = Slot{kEmpty, 0};
  count_--;
  if (arena_garbage_bytes_ > (256u << 10) && arena_garbage_bytes_ * 2 > arena_used_bytes_) compact_arena();
  return true;
}

bool Keydir::replace_if(const uint8_t* key, size_t key_bytes, uint32_t file, uint32_t offset, const Loc& loc) {
  uint32_t tag = static_cast<uint32_t>(key_hash(key, key_bytes));
  size_t i = lookup(key, key_bytes, tag);
  if (i == SIZE_MAX) return false;
  uint8_t* e = entry(slots_[i].ref);
  Loc current;
  read_loc(e, &current);
  if (current.file != file || current.offset != offset) return false;
  write_loc(e, loc);
  return true;
}

void Keydir::grow_table() {
  std::vector<Slot> old(slots_.size() * 2, Slot{kEmpty, 0});
  old.swap(slots_);
  mask_ = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.ref == kEmpty) continue;
    size_t j = s.tag & mask_;
    while (slots_[j].ref != kEmpty) j = (j + 1) & mask_;
    slots_[j] = s;
  }
}

void Keydir::compact_arena() {
  // Copies live entries into fresh chunks; slots keep their positions.
  std::vector<Chunk> fresh;
  size_t used = 0;
  for (Slot& s : slots_) {
    if (s.ref == kEmpty) continue;
    const uint8_t* e = entry(s.ref);
    size_t bytes = entry_bytes(key_bytes_of(e));
    uint32_t ref = allocate(bytes, &fresh);
    Chunk& c = fresh[ref >> kChunkShift];
    std::memcpy(c.bytes.get() + (static_cast<size_t>(ref & ((1u << kChunkShift) - 1)) << 2), e, bytes);
    s.ref = ref;
    used += bytes;
  }
  chunks_.swap(fresh);
  arena_used_bytes_ = used;
  arena_garbage_bytes_ = 0;
}

size_t Keydir::memory_bytes() const {
  size_t bytes = sizeof(*this) + slots_.capacity() * sizeof(Slot) + chunks_.capacity() * sizeof(Chunk);
  for (const Chunk& c : chunks_) bytes += c.capacity;
  return bytes;
}

}  // namespace log
}  // namespace ringkv
