#define XXH_INLINE_ALL
#define XXH_STATIC_LINKING_ONLY
#include "xxhash.h"

#include "hash.h"

namespace ringkv {
uint64_t key_hash(const uint8_t* data, size_t len) { return XXH3_64bits(data, len); }
}  // namespace ringkv
