// xxh3-64 of keys: the hash that places a key on the ring and in a Merkle segment.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ringkv {
uint64_t key_hash(const uint8_t* data, size_t len);
}
