// N-API surface of the log engine. Declared, typed and validated in
// src/native/addon.ts (NativeLog); src/storage/log.ts is the only caller.
// Every function re-checks its argument types so that a direct call with
// garbage throws a TypeError instead of crashing. Native statuses become the
// stable KV_* codes in StatusCode(), and nowhere else.
#include <napi.h>

#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "log_store.h"

namespace ringkv {
namespace {

using log::Status;
using log::Store;
using log::StoreError;

const char* StatusCode(Status s) {
  switch (s) {
    case Status::kOk: return "KV_OK";
    case Status::kIoError: return "KV_IO_ERROR";
    case Status::kCorruption: return "KV_CORRUPTION";
    case Status::kClosed: return "KV_CLOSED";
    case Status::kTooLarge: return "KV_TOO_LARGE";
    case Status::kBadArgument: return "KV_BAD_ARGUMENT";
  }
  return "KV_INTERNAL";
}

Napi::Error StatusError(Napi::Env env, Status s, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, StatusCode(s)));
  return e;
}

// Runs `body`, turning a StoreError into a JS exception with its code.
template <typename F>
Napi::Value Guard(Napi::Env env, F&& body) {
  try {
    return body();
  } catch (const StoreError& e) {
    StatusError(env, e.status(), e.what()).ThrowAsJavaScriptException();
  } catch (const std::bad_alloc&) {
    StatusError(env, Status::kIoError, "out of memory").ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

// Delivers group-commit results to JS; shared by the store's sync thread
// (which queues calls) and the JS thread (which refs/unrefs the TSFN so the
// process stays alive exactly while someone waits for a sync).
// `alive` turns false when we release the TSFN or when Node finalizes it
// (at environment teardown that can happen before our handle's finalizer
// runs): after that, nothing may touch `tsfn`.
struct SyncBridge {
  std::mutex mu;
  bool alive = true;  // under mu (written on the JS thread, read by the sync thread)
  Napi::ThreadSafeFunction tsfn;
  bool refd = false;  // JS thread only
  std::weak_ptr<Store> store;
};

constexpr uint32_t kStoreMagic = 0x4c4f4753;  // "SGOL"
constexpr uint32_t kFoldMagic = 0x444c4f46;   // "FOLD"

struct StoreBox {
  uint32_t magic = kStoreMagic;
  std::shared_ptr<Store> store;
  std::shared_ptr<SyncBridge> bridge;
  log::Durability durability = log::Durability::kNone;
  Napi::Reference<Napi::Uint8Array> read_ref;
  uint8_t* read_data = nullptr;
  size_t read_bytes = 0;
  Napi::Reference<Napi::Uint8Array> key_ref;
  uint8_t* key_data = nullptr;
  size_t key_bytes = 0;

  void release() {
    if (!bridge) return;
    bool was_alive;
    {
      std::lock_guard<std::mutex> lk(bridge->mu);
      was_alive = bridge->alive;
      bridge->alive = false;
    }
    // Outside the lock: releasing may finalize, and the finalizer locks mu.
    if (was_alive) bridge->tsfn.Release();
  }
  ~StoreBox() {
    magic = 0;
    try {
      if (store) store->close();
    } catch (...) {
    }
    release();
  }
};

struct FoldBox {
  uint32_t magic = kFoldMagic;
  std::unique_ptr<log::FoldSnapshot> snap;
  ~FoldBox() { magic = 0; }
};

bool TypeFail(const Napi::CallbackInfo& info, const std::string& msg) {
  Napi::TypeError::New(info.Env(), msg).ThrowAsJavaScriptException();
  return false;
}

// The argument helpers below make one N-API call each (they sit on the hot
// read and write paths); a value of the wrong kind makes that call fail,
// which becomes a TypeError.
bool BoxArg(const Napi::CallbackInfo& info, StoreBox** out) {
  void* p = nullptr;
  if (info.Length() < 1 || napi_get_value_external(info.Env(), info[0], &p) != napi_ok || p == nullptr ||
      static_cast<StoreBox*>(p)->magic != kStoreMagic)
    return TypeFail(info, "argument 0 must be a log store handle");
  *out = static_cast<StoreBox*>(p);
  return true;
}

bool BytesArg(const Napi::CallbackInfo& info, size_t i, uint8_t** data, size_t* len) {
  napi_typedarray_type type;
  size_t length = 0;
  void* bytes = nullptr;
  if (napi_get_typedarray_info(info.Env(), info[i], &type, &length, &bytes, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array)
    return TypeFail(info, "argument " + std::to_string(i) + " must be a Uint8Array");
  *data = static_cast<uint8_t*>(bytes);
  *len = length;
  return true;
}

bool NumberArg(const Napi::CallbackInfo& info, size_t i, double* out) {
  if (!info[i].IsNumber()) return TypeFail(info, "argument " + std::to_string(i) + " must be a number");
  *out = info[i].As<Napi::Number>().DoubleValue();
  return true;
}

// With durability `always`, keep the process alive until the sync lands.
void RefForSync(Napi::Env env, StoreBox* box) {
  if (box->store->sync_pending() && !box->bridge->refd && box->bridge->alive) {
    box->bridge->tsfn.Ref(env);
    box->bridge->refd = true;
  }
}

// Recovery reads every hint or data file: off the JS thread.
class OpenWorker : public Napi::AsyncWorker {
 public:
  OpenWorker(Napi::Env env, StoreBox* box, Napi::Promise::Deferred deferred)
      : Napi::AsyncWorker(env, "ringkvLogOpen"), box_(box), deferred_(deferred) {}
  ~OpenWorker() override { delete box_; }  // still set only when open failed
  void Execute() override {
    try {
      box_->store->open();
    } catch (const StoreError& e) {
      status_ = e.status();
      message_ = e.what();
    } catch (const std::exception& e) {
      status_ = Status::kIoError;
      message_ = e.what();
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (status_ != Status::kOk) {
      deferred_.Reject(StatusError(env, status_, message_).Value());
      return;
    }
    StoreBox* box = box_;
    box_ = nullptr;
    deferred_.Resolve(Napi::External<StoreBox>::New(env, box, [](Napi::Env, StoreBox* b) { delete b; }));
  }

 private:
  StoreBox* box_;
  Napi::Promise::Deferred deferred_;
  Status status_ = Status::kOk;
  std::string message_;
};

// Closing syncs and writes the active file's hint: off the JS thread too.
class CloseWorker : public Napi::AsyncWorker {
 public:
  CloseWorker(Napi::Env env, StoreBox* box, Napi::Value keep, Napi::Promise::Deferred deferred)
      : Napi::AsyncWorker(env, "ringkvLogClose"), box_(box), store_(box->store), deferred_(deferred) {
    keep_ = Napi::Persistent(keep);  // the handle stays alive until we are done
  }
  void Execute() override {
    try {
      store_->close();
    } catch (const StoreError& e) {
      status_ = e.status();
      message_ = e.what();
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    box_->release();
    box_->read_ref.Reset();
    box_->read_data = nullptr;
    box_->read_bytes = 0;
    box_->key_ref.Reset();
    box_->key_data = nullptr;
    box_->key_bytes = 0;
    if (status_ != Status::kOk) deferred_.Reject(StatusError(env, status_, message_).Value());
    else deferred_.Resolve(env.Undefined());
  }

 private:
  StoreBox* box_;
  std::shared_ptr<Store> store_;
  Napi::Reference<Napi::Value> keep_;
  Napi::Promise::Deferred deferred_;
  Status status_ = Status::kOk;
  std::string message_;
};

// logOpen(dir, maxFileBytes, durability 0|1|2, syncIntervalMs, mergeThreshold, onSync[, sharedSync]) -> Promise<handle>
Napi::Value LogOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double max_file, durability, interval, threshold;
  if (!info[0].IsString()) return TypeFail(info, "argument 0 must be a string"), env.Undefined();
  if (!NumberArg(info, 1, &max_file) || !NumberArg(info, 2, &durability) || !NumberArg(info, 3, &interval) ||
      !NumberArg(info, 4, &threshold))
    return env.Undefined();
  if (!info[5].IsFunction()) return TypeFail(info, "argument 5 must be a function"), env.Undefined();
  if (!(max_file >= 1) || !(durability >= 0 && durability <= 2) || !(interval >= 1) ||
      !(threshold > 0 && threshold <= 1)) {
    Napi::RangeError::New(env, "log options out of range").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  log::Options options;
  options.max_file_bytes = static_cast<uint64_t>(max_file);
  options.durability = static_cast<log::Durability>(static_cast<int>(durability));
  options.sync_interval_ms = static_cast<uint32_t>(interval > 3.6e6 ? 3.6e6 : interval);
  options.merge_threshold = threshold;
  // Optional argument 6: interval rounds by the process-wide syncfs (default true).
  options.shared_sync = info.Length() < 7 || info[6].IsUndefined() || info[6].ToBoolean().Value();

  auto bridge = std::make_shared<SyncBridge>();
  std::weak_ptr<SyncBridge> weak_bridge = bridge;
  bridge->tsfn = Napi::ThreadSafeFunction::New(env, info[5].As<Napi::Function>(), "ringkvLogSync", 0, 1,
                                               [weak_bridge](Napi::Env) {
                                                 if (auto b = weak_bridge.lock()) {
                                                   std::lock_guard<std::mutex> lk(b->mu);
                                                   b->alive = false;
                                                 }
                                               });
  bridge->tsfn.Unref(env);
  auto on_sync = [bridge](uint64_t seq, Status status, const std::string& message) {
    std::lock_guard<std::mutex> lk(bridge->mu);
    if (!bridge->alive) return;
    bridge->tsfn.NonBlockingCall([bridge, seq, status, message](Napi::Env env, Napi::Function fn) {
      if (auto store = bridge->store.lock()) {
        store->note_synced(seq, status == Status::kOk);
        if (!store->sync_pending() && bridge->refd && bridge->alive) {
          bridge->tsfn.Unref(env);
          bridge->refd = false;
        }
      }
      fn.Call({Napi::Number::New(env, static_cast<double>(seq)),
               status == Status::kOk ? env.Null() : Napi::String::New(env, StatusCode(status)),
               Napi::String::New(env, message)});
    });
  };
  auto store = std::make_shared<Store>(info[0].As<Napi::String>().Utf8Value(), options, on_sync);
  bridge->store = store;
  auto* box = new StoreBox();
  box->store = store;
  box->bridge = bridge;
  box->durability = options.durability;
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  (new OpenWorker(env, box, deferred))->Queue();
  return deferred.Promise();
}

Napi::Value LogPut(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreBox* box;
  uint8_t *k, *v;
  size_t kl, vl;
  if (!BoxArg(info, &box) || !BytesArg(info, 1, &k, &kl) || !BytesArg(info, 2, &v, &vl)) return env.Undefined();
  return Guard(env, [&]() -> Napi::Value {
    uint64_t seq = box->store->put(k, kl, v, vl);
    RefForSync(env, box);
    return Napi::Number::New(env, static_cast<double>(seq));
  });
}

Napi::Value LogDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreBox* box;
  uint8_t* k;
  size_t kl;
  if (!BoxArg(info, &box) || !BytesArg(info, 1, &k, &kl)) return env.Undefined();
  return Guard(env, [&]() -> Napi::Value {
    uint64_t seq = box->store->remove(k, kl);
    RefForSync(env, box);
    return Napi::Number::New(env, static_cast<double>(seq));
  });
}

// logBatch(h, records): records in the on-disk layout, CRC and timestamp blank.
Napi::Value LogBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreBox* box;
  uint8_t* r;
  size_t n;
  if (!BoxArg(info, &box) || !BytesArg(info, 1, &r, &n)) return env.Undefined();
  return Guard(env, [&]() -> Napi::Value {
    uint64_t seq = box->store->batch(r, n);
    RefForSync(env, box);
    return Napi::Number::New(env, static_cast<double>(seq));
  });
}

Napi::Value LogGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreBox* box;
  uint8_t* k;
  size_t kl;
  if (!BoxArg(info, &box) || !BytesArg(info, 1, &k, &kl)) return env.Undefined();
  return Guard(env, [&]() -> Napi::Value {
    const uint8_t* v;
    uint32_t vl;
    if (!box->store->get(k, kl, &v, &vl)) return env.Undefined();
    return Napi::Buffer<uint8_t>::Copy(env, v, vl);
  });
}

// logSetReadBuffer(h, buf): the buffer logGetInto fills (kept alive here).
Napi::Value LogSetReadBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreBox* box;
  uint8_t* d;
  size_t n;
  if (!BoxArg(info, &box) || !BytesArg(info, 1, &d, &n)) return env.Undefined();
  box->read_ref = Napi::Persistent(info[1].As<Napi::Uint8Array>());
  box->read_data = d;
  box->read_bytes = n;
  return env.Undefined();
}

// logGetInto(h, key) -> -1 when absent, else the value's length; the value is
// copied into the read buffer only when it fits.
Napi::Value LogGetInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreBox* box;
  uint8_t* k;
  size_t kl;
  if (!BoxArg(info, &box) || !BytesArg(info, 1, &k, &kl)) return env.Undefined();
  return Guard(env, [&]() -> Napi::Value {
    const uint8_t* v;
    uint32_t vl;
    if (!box->store->get(k, kl, &v, &vl)) return Napi::Number::New(env, -1);
    if (vl <= box->read_bytes && vl > 0) std::memcpy(box->read_data, v, vl);
    return Napi::Number::New(env, vl);
  });
}

// logSetKeyBuffer(h, buf): where logGetFast finds its key (kept alive here).
Napi::Value LogSetKeyBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreBox* box;
  uint8_t* d;
  size_t n;
  if (!BoxArg(info, &box) || !BytesArg(info, 1, &d, &n)) return env.Undefined();
  box->key_ref = Napi::Persistent(info[1].As<Napi::Uint8Array>());
  box->key_data = d;
  box->key_bytes = n;
  return env.Undefined();
}

// logGetFast(h, keyLength): as logGetInto, with the key in the key buffer.
// Three N-API calls in all, as lmdb-js's getBinaryFast does it.
Napi::Value LogGetFast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreBox* box;
  uint32_t kl;
  if (!BoxArg(info, &box)) return env.Undefined();
  if (napi_get_value_uint32(env, info[1], &kl) != napi_ok)
    return TypeFail(info, "argument 1 must be a number"), env.Undefined();
  if (kl > box->key_bytes) {
    Napi::RangeError::New(env, "key length exceeds the key buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Guard(env, [&]() -> Napi::Value {
    const uint8_t* v;
    uint32_t vl;
    if (!box->store->get(box->key_data, kl, &v, &vl)) return Napi::Number::New(env, -1);
    if (vl <= box->read_bytes && vl > 0) std::memcpy(box->read_data, v, vl);
    return Napi::Number::New(env, vl);
  });
}

// logSync(h) -> the sequence number the caller waits for (onSync delivers it).
Napi::Value LogSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreBox* box;
  if (!BoxArg(info, &box)) return env.Undefined();
  return Guard(env, [&]() -> Napi::Value {
    uint64_t seq = box->store->request_sync();
    RefForSync(env, box);
    return Napi::Number::New(env, static_cast<double>(seq));
  });
}

Napi::Value LogCount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreBox* box;
  if (!BoxArg(info, &box)) return env.Undefined();
  if (box->store->closed()) {
    StatusError(env, Status::kClosed, "partition is closed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(box->store->count()));
}

// A JS object of named counters (u64 as Number: exact below 2^53).
static Napi::Object Counters(Napi::Env env, std::initializer_list<std::pair<const char*, uint64_t>> fields) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& f : fields) o.Set(f.first, Napi::Number::New(env, static_cast<double>(f.second)));
  return o;
}

Napi::Value LogStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreBox* box;
  if (!BoxArg(info, &box)) return env.Undefined();
  return Guard(env, [&]() -> Napi::Value {
    log::StoreStats s = box->store->stats();
    return Counters(env, {{"keys", s.keys},
                          {"liveBytes", s.live_bytes},
                          {"deadBytes", s.dead_bytes},
                          {"files", s.files},
                          {"merges", s.merges},
                          {"recoveredRecords", s.recovered_records},
                          {"droppedRecords", s.dropped_records},
                          {"keydirBytes", s.keydir_bytes},
                          {"hintFilesLoaded", s.hint_files_loaded},
                          {"truncatedBytes", s.truncated_bytes},
                          {"writeSeq", s.write_seq},
                          {"syncedSeq", s.synced_seq}});
  });
}

// logSharedSyncStats() -> { rounds, syncfsCalls, storeSyncs, errors }: the
// process-wide interval sync (log_store.cc, IntervalSyncer).
Napi::Value LogSharedSyncStats(const Napi::CallbackInfo& info) {
  log::SharedSyncStats s = log::shared_sync_stats();
  return Counters(info.Env(), {{"rounds", s.rounds}, {"syncfsCalls", s.syncfs_calls}, {"storeSyncs", s.store_syncs}, {"errors", s.errors}});
}

// logClose(h) -> Promise<void>. From the call on, every other function
// fails with KV_CLOSED; a second close resolves at once.
Napi::Value LogClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreBox* box;
  if (!BoxArg(info, &box)) return env.Undefined();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  if (box->store->closed()) {
    deferred.Resolve(env.Undefined());
    return deferred.Promise();
  }
  box->store->closing = true;
  (new CloseWorker(env, box, info[0], deferred))->Queue();
  return deferred.Promise();
}

// logFoldOpen(h, keysOnly) -> fold handle over a snapshot of the keydir.
Napi::Value LogFoldOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreBox* box;
  if (!BoxArg(info, &box)) return env.Undefined();
  if (!info[1].IsBoolean()) return TypeFail(info, "argument 1 must be a boolean"), env.Undefined();
  bool keys_only = info[1].As<Napi::Boolean>().Value();
  return Guard(env, [&]() -> Napi::Value {
    auto* fb = new FoldBox();
    fb->snap = box->store->fold_snapshot(keys_only);
    return Napi::External<FoldBox>::New(env, fb, [](Napi::Env, FoldBox* f) { delete f; });
  });
}

// logFoldNext(f, buf) -> entries written to buf as [u32 keyLen][u32 valueLen][key][value]...;
// 0 when done; -(bytes needed) when the next entry alone does not fit.
Napi::Value LogFoldNext(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal()) return TypeFail(info, "argument 0 must be a fold handle"), env.Undefined();
  auto* fb = info[0].As<Napi::External<FoldBox>>().Data();
  if (fb == nullptr || fb->magic != kFoldMagic || !fb->snap)
    return TypeFail(info, "argument 0 must be an open fold handle"), env.Undefined();
  uint8_t* out;
  size_t cap;
  if (!BytesArg(info, 1, &out, &cap)) return env.Undefined();
  return Guard(env, [&]() -> Napi::Value {
    log::FoldSnapshot& s = *fb->snap;
    size_t pos = 0;
    uint32_t count = 0;
    while (s.next < s.entries.size()) {
      const log::FoldEntry& e = s.entries[s.next];
      uint32_t vl = s.keys_only ? 0 : e.loc.value_bytes;
      size_t need = 8 + e.key_bytes + static_cast<size_t>(vl);
      if (pos + need > cap) {
        if (count == 0) return Napi::Number::New(env, -static_cast<double>(need));
        break;
      }
      const uint8_t* value = nullptr;
      if (!s.keys_only) Store::fold_value(s, e, &value);
      log::put_u32(out + pos, e.key_bytes);
      log::put_u32(out + pos + 4, vl);
      std::memcpy(out + pos + 8, s.keys.data() + e.key_offset, e.key_bytes);
      if (vl > 0) std::memcpy(out + pos + 8 + e.key_bytes, value, vl);
      pos += need;
      count++;
      s.next++;
    }
    return Napi::Number::New(env, count);
  });
}

Napi::Value LogFoldClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal()) return TypeFail(info, "argument 0 must be a fold handle"), env.Undefined();
  auto* fb = info[0].As<Napi::External<FoldBox>>().Data();
  if (fb == nullptr || fb->magic != kFoldMagic) return TypeFail(info, "argument 0 must be a fold handle"), env.Undefined();
  fb->snap.reset();  // drops the file references; the box itself goes with GC
  return env.Undefined();
}

// Merge runs as two async workers with a keydir step on the JS thread
// between them (see Store::merge_*). Execute never touches JS values.
class MergeWorker2 : public Napi::AsyncWorker {
 public:
  MergeWorker2(Napi::Env env, std::shared_ptr<Store> store, std::unique_ptr<log::MergeJob> job,
               Napi::Promise::Deferred deferred)
      : Napi::AsyncWorker(env, "ringkvLogMerge"), store_(std::move(store)), job_(std::move(job)), deferred_(deferred) {}
  void Execute() override {
    try {
      store_->merge_phase2(job_.get());
    } catch (const std::exception& e) {
      job_->error = e.what();
      store_->merge_abort(job_.get());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      uint32_t merged = store_->merge_finish(job_.get());
      if (!job_->error.empty()) {
        deferred_.Reject(StatusError(env, Status::kIoError, job_->error).Value());
        return;
      }
      deferred_.Resolve(Napi::Number::New(env, merged));
    } catch (const StoreError& e) {
      deferred_.Reject(StatusError(env, e.status(), e.what()).Value());
    }
  }

 private:
  std::shared_ptr<Store> store_;
  std::unique_ptr<log::MergeJob> job_;
  Napi::Promise::Deferred deferred_;
};

class MergeWorker1 : public Napi::AsyncWorker {
 public:
  MergeWorker1(Napi::Env env, std::shared_ptr<Store> store, std::unique_ptr<log::MergeJob> job,
               Napi::Promise::Deferred deferred)
      : Napi::AsyncWorker(env, "ringkvLogMerge"), store_(std::move(store)), job_(std::move(job)), deferred_(deferred) {}
  void Execute() override {
    try {
      store_->merge_phase1(job_.get());
    } catch (const std::exception& e) {
      job_->error = e.what();
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      if (job_->error.empty() && store_->merge_middle(job_.get())) {
        (new MergeWorker2(env, store_, std::move(job_), deferred_))->Queue();
        return;
      }
      job_->cancelled = true;
      store_->merge_finish(job_.get());
      if (!job_->error.empty()) deferred_.Reject(StatusError(env, Status::kIoError, job_->error).Value());
      else deferred_.Resolve(Napi::Number::New(env, 0));
    } catch (const StoreError& e) {
      store_->merging = false;
      deferred_.Reject(StatusError(env, e.status(), e.what()).Value());
    }
  }

 private:
  std::shared_ptr<Store> store_;
  std::unique_ptr<log::MergeJob> job_;
  Napi::Promise::Deferred deferred_;
};

// logMerge(h, all) -> Promise<number of files merged>. `all` merges every
// closed file with any dead bytes; otherwise those past mergeThreshold.
Napi::Value LogMerge(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreBox* box;
  if (!BoxArg(info, &box)) return env.Undefined();
  if (!info[1].IsBoolean()) return TypeFail(info, "argument 1 must be a boolean"), env.Undefined();
  bool all = info[1].As<Napi::Boolean>().Value();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  try {
    std::unique_ptr<log::MergeJob> job = box->store->merge_prepare(all);
    if (!job) {
      deferred.Resolve(Napi::Number::New(env, 0));
    } else {
      (new MergeWorker1(env, box->store, std::move(job), deferred))->Queue();
    }
  } catch (const StoreError& e) {
    deferred.Reject(StatusError(env, e.status(), e.what()).Value());
  }
  return deferred.Promise();
}

Napi::Value LogMergeCandidates(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreBox* box;
  if (!BoxArg(info, &box)) return env.Undefined();
  return Napi::Number::New(env, static_cast<double>(box->store->merge_candidates()));
}

}  // namespace

void InitLog(Napi::Env env, Napi::Object exports) {
  exports.Set("logOpen", Napi::Function::New(env, LogOpen, "logOpen"));
  exports.Set("logPut", Napi::Function::New(env, LogPut, "logPut"));
  exports.Set("logDelete", Napi::Function::New(env, LogDelete, "logDelete"));
  exports.Set("logBatch", Napi::Function::New(env, LogBatch, "logBatch"));
  exports.Set("logGet", Napi::Function::New(env, LogGet, "logGet"));
  exports.Set("logSetReadBuffer", Napi::Function::New(env, LogSetReadBuffer, "logSetReadBuffer"));
  exports.Set("logGetInto", Napi::Function::New(env, LogGetInto, "logGetInto"));
  exports.Set("logSetKeyBuffer", Napi::Function::New(env, LogSetKeyBuffer, "logSetKeyBuffer"));
  exports.Set("logGetFast", Napi::Function::New(env, LogGetFast, "logGetFast"));
  exports.Set("logSync", Napi::Function::New(env, LogSync, "logSync"));
  exports.Set("logCount", Napi::Function::New(env, LogCount, "logCount"));
  exports.Set("logStats", Napi::Function::New(env, LogStats, "logStats"));
  exports.Set("logSharedSyncStats", Napi::Function::New(env, LogSharedSyncStats, "logSharedSyncStats"));
  exports.Set("logClose", Napi::Function::New(env, LogClose, "logClose"));
  exports.Set("logFoldOpen", Napi::Function::New(env, LogFoldOpen, "logFoldOpen"));
  exports.Set("logFoldNext", Napi::Function::New(env, LogFoldNext, "logFoldNext"));
  exports.Set("logFoldClose", Napi::Function::New(env, LogFoldClose, "logFoldClose"));
  exports.Set("logMerge", Napi::Function::New(env, LogMerge, "logMerge"));
  exports.Set("logMergeCandidates", Napi::Function::New(env, LogMergeCandidates, "logMergeCandidates"));
}

}  // namespace ringkv
