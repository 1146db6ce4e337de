// CRC32C (Castagnoli), used to checksum every log and hint record.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ringkv {

// Extends `crc` (0 for a fresh checksum) over `len` bytes. Uses the SSE4.2
// crc32 instruction when the CPU has it, and a slicing-by-8 table otherwise.
uint32_t crc32c_extend(uint32_t crc, const uint8_t* data, size_t len);

inline uint32_t crc32c(const uint8_t* data, size_t len) { return crc32c_extend(0, data, len); }

// Which implementation was chosen at load time: "sse4.2" or "table".
const char* crc32c_impl();

// The portable path, exposed so tests can compare it with the hardware one.
uint32_t crc32c_extend_portable(uint32_t crc, const uint8_t* data, size_t len);

}  // namespace ringkv
