// Entry point of the ringkv native addon. Each native module registers its
// functions here; the TypeScript side declares the whole surface in
// src/native/addon.ts and validates arguments before they reach C++. The
// checks below are a second line of defence: a wrong argument throws a
// TypeError, it never crashes the process.
#include <napi.h>

#include "crc32c.h"
#include "hash.h"

namespace ringkv {
namespace {

// Returns the bytes of a Uint8Array argument (a Buffer is one), or throws.
bool BytesArg(const Napi::CallbackInfo& info, size_t i, const uint8_t** data, size_t* len) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a Uint8Array")
        .ThrowAsJavaScriptException();
    return false;
  }
  Napi::Uint8Array a = v.As<Napi::Uint8Array>();
  *data = a.Data();
  *len = a.ByteLength();
  return true;
}

bool U32Arg(const Napi::CallbackInfo& info, size_t i, uint32_t* out) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) {
    Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a number")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = v.As<Napi::Number>().Uint32Value();
  return true;
}

// hashHi32(key) -> the top 32 bits of xxh3-64(key), as an unsigned number.
// Enough to place a key among up to 2^32 partitions without a BigInt.
Napi::Value HashHi32(const Napi::CallbackInfo& info) {
  const uint8_t* d;
  size_t n;
  if (!BytesArg(info, 0, &d, &n)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), static_cast<double>(key_hash(d, n) >> 32));
}

// partitionOf(key, qBits) -> top qBits bits of xxh3-64(key).
Napi::Value PartitionOf(const Napi::CallbackInfo& info) {
  const uint8_t* d;
  size_t n;
  uint32_t bits;
  if (!BytesArg(info, 0, &d, &n) || !U32Arg(info, 1, &bits)) return info.Env().Undefined();
  if (bits == 0 || bits > 32) {
    Napi::RangeError::New(info.Env(), "qBits must be in 1..32").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  uint64_t h = key_hash(d, n);
  return Napi::Number::New(info.Env(), static_cast<double>(h >> (64 - bits)));
}

// hashInto(key, out, offset): writes xxh3-64(key) little-endian at out[offset..offset+8).
Napi::Value HashInto(const Napi::CallbackInfo& info) {
  const uint8_t* d;
  size_t n;
  const uint8_t* o;
  size_t olen;
  uint32_t off;
  if (!BytesArg(info, 0, &d, &n) || !BytesArg(info, 1, &o, &olen) || !U32Arg(info, 2, &off))
    return info.Env().Undefined();
  if (static_cast<size_t>(off) + 8 > olen) {
    Napi::RangeError::New(info.Env(), "out is too small").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  uint64_t h = key_hash(d, n);
  uint8_t* w = const_cast<uint8_t*>(o) + off;
  for (int i = 0; i < 8; i++) w[i] = static_cast<uint8_t>(h >> (8 * i));
  return info.Env().Undefined();
}

// hashBatch(keys, offsets, out): keys is the concatenation of n keys, offsets
// a Uint32Array of n+1 boundaries, out receives n little-endian u64 hashes.
Napi::Value HashBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint8_t* d;
  size_t n;
  const uint8_t* o;
  size_t olen;
  if (!BytesArg(info, 0, &d, &n)) return env.Undefined();
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    Napi::TypeError::New(env, "argument 1 must be a Uint32Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!BytesArg(info, 2, &o, &olen)) return env.Undefined();
  Napi::Uint32Array offs = info[1].As<Napi::Uint32Array>();
  size_t count = offs.ElementLength();
  if (count == 0) return Napi::Number::New(env, 0);
  count -= 1;
  if (olen < count * 8) {
    Napi::RangeError::New(env, "out is too small").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const uint32_t* off = offs.Data();
  for (size_t i = 0; i < count; i++) {
    if (off[i] > off[i + 1] || off[i + 1] > n) {
      Napi::RangeError::New(env, "offsets out of range").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  uint8_t* w = const_cast<uint8_t*>(o);
  for (size_t i = 0; i < count; i++) {
    uint64_t h = key_hash(d + off[i], off[i + 1] - off[i]);
    for (int b = 0; b < 8; b++) w[i * 8 + b] = static_cast<uint8_t>(h >> (8 * b));
  }
  return Napi::Number::New(env, static_cast<double>(count));
}

// crc32c(data, init = 0) -> unsigned number.
Napi::Value Crc32c(const Napi::CallbackInfo& info) {
  const uint8_t* d;
  size_t n;
  if (!BytesArg(info, 0, &d, &n)) return info.Env().Undefined();
  uint32_t init = 0;
  if (info.Length() > 1 && !info[1].IsUndefined() && !U32Arg(info, 1, &init)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), crc32c_extend(init, d, n));
}

Napi::Value Crc32cPortable(const Napi::CallbackInfo& info) {
  const uint8_t* d;
  size_t n;
  if (!BytesArg(info, 0, &d, &n)) return info.Env().Undefined();
  uint32_t init = 0;
  if (info.Length() > 1 && !info[1].IsUndefined() && !U32Arg(info, 1, &init)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), crc32c_extend_portable(init, d, n));
}

Napi::Value Crc32cImpl(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), crc32c_impl()); }

}  // namespace

// Defined by the other native modules.
void InitLog(Napi::Env env, Napi::Object exports);

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("hashHi32", Napi::Function::New(env, HashHi32, "hashHi32"));
  exports.Set("partitionOf", Napi::Function::New(env, PartitionOf, "partitionOf"));
  exports.Set("hashInto", Napi::Function::New(env, HashInto, "hashInto"));
  exports.Set("hashBatch", Napi::Function::New(env, HashBatch, "hashBatch"));
  exports.Set("crc32c", Napi::Function::New(env, Crc32c, "crc32c"));
  exports.Set("crc32cPortable", Napi::Function::New(env, Crc32cPortable, "crc32cPortable"));
  exports.Set("crc32cImpl", Napi::Function::New(env, Crc32cImpl, "crc32cImpl"));
  InitLog(env, exports);
  return exports;
}

}  // namespace ringkv

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return ringkv::Init(env, exports); }

NODE_API_MODULE(ringkv, InitModule)
