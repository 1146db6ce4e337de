// On-disk layout of the log engine: data records and hint files.
//
// A data record, all integers little-endian:
//
//   offset size field
//   0      4    crc32c     CRC32C of bytes [4, 19 + keyLen + valueLen)
//   4      1    flags      bit 0: tombstone (valueLen is then 0); other bits 0
//   5      8    timestamp  milliseconds since the Unix epoch, when written
//   13     2    keyLen
//   15     4    valueLen
//   19     keyLen   key
//   ..     valueLen value
//
// A hint file (`<rank>.hint` beside `<rank>.data`) lists every record of a
// closed data file so that reopening does not have to read the values:
//
//   header: magic "RKVH" (u32), version (u32), dataBytes (u64), count (u64)
//   entry:  flags (u8), keyLen (u16), valueLen (u32), offset (u32), timestamp (u64), key
//   trailer: crc32c (u32) of everything before it
//
// Tombstones are listed too: they must shadow older files on reload.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace ringkv {
namespace log {

constexpr size_t kHeaderBytes = 19;
constexpr uint8_t kFlagTombstone = 1;
constexpr size_t kMaxKeyBytes = 65535;
constexpr size_t kMaxValueBytes = 64u << 20;
constexpr size_t kMaxRecordBytes = kHeaderBytes + kMaxKeyBytes + kMaxValueBytes;

constexpr uint32_t kHintMagic = 0x48564b52;  // "RKVH" little-endian
constexpr uint32_t kHintVersion = 1;
constexpr size_t kHintHeaderBytes = 24;
constexpr size_t kHintEntryBytes = 19;

// Ranks order a partition's files: newer ranks win on reload. A file created
// by rotation gets the next multiple of kRankStep; merge output gets ranks just
// above the newest closed file, so it sorts below the file that was active
// when the merge started (which may hold newer versions of the same keys).
constexpr uint64_t kRankStep = uint64_t{1} << 20;

inline void put_u16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
inline void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint16_t get_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t get_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);  // x86-64 and arm64 Linux are little-endian
  return v;
}
inline uint64_t get_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Native status. Mapped to the stable KV_* codes in exactly one place
// (StatusCode in log_binding.cc).
enum class Status { kOk = 0, kIoError, kCorruption, kClosed, kTooLarge, kBadArgument };

class StoreError : public std::runtime_error {
 public:
  StoreError(Status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  Status status() const { return status_; }

 private:
  Status status_;
};

// Throws kIoError with the errno text appended.
[[noreturn]] void throw_errno(const std::string& what);

}  // namespace log
}  // namespace ringkv
