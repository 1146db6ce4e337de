// One partition of the log engine: its data files, keydir, sync thread, hint
// thread and the pieces of merge and fold. Free of N-API so the logic reads
// on its own; log_binding.cc wraps it.
//
// Threading: every method is called on the JS thread unless it says
// otherwise. The keydir and the file table are touched only there. The sync
// thread fdatasyncs (group commit), the hint thread writes hint files for
// closed files, and merge's Execute halves read closed (immutable) files.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "log_format.h"
#include "log_keydir.h"

namespace ringkv {
namespace log {

enum class Durability { kNone = 0, kInterval = 1, kAlways = 2 };

struct Options {
  uint64_t max_file_bytes = uint64_t{256} << 20;
  Durability durability = Durability::kNone;
  uint32_t sync_interval_ms = 1000;
  double merge_threshold = 0.5;
  // kInterval: periodic rounds by the process-wide syncfs (Linux) rather than this store's fdatasyncs.
  bool shared_sync = true;
};

// A data file, memory-mapped read-only. Writes go through pwrite on the fd;
// on Linux a MAP_SHARED mapping sees them at once. The mapping reserves room
// for the file to grow to its limit; nothing reads past `length`.
struct DataFile {
  uint32_t id = 0;
  uint64_t rank = 0;
  std::string data_path;
  std::string hint_path;
  int fd = -1;
  uint8_t* map = nullptr;
  size_t map_bytes = 0;
  std::atomic<uint64_t> length{0};
  uint64_t live_bytes = 0;  // JS thread only
  // Tombstones a merge had to keep: dead, but merging them again frees
  // nothing, so they do not count towards the merge threshold.
  uint64_t pinned_bytes = 0;  // JS thread only
  // Serialises "hint thread renames a hint" against "merge deletes the file",
  // so a deleted file never gets a stray hint.
  std::mutex delete_mu;
  bool deleted = false;
  ~DataFile();
};
using FilePtr = std::shared_ptr<DataFile>;

// One record found by a scan of a data file.
struct ScannedRecord {
  uint64_t offset;
  uint8_t flags;
  uint64_t timestamp;
  const uint8_t* key;
  uint32_t key_bytes;
  uint32_t value_bytes;
};

// Result of validating the record at `offset`: its total size, or 0.
size_t valid_record_at(const uint8_t* base, uint64_t length, uint64_t offset);

struct FoldEntry {
  size_t key_offset;  // into FoldSnapshot::keys
  uint16_t key_bytes;
  Loc loc;
};

// A consistent copy of the keydir plus references that keep every file it
// points into mapped until the fold ends (merge may unlink them meanwhile).
struct FoldSnapshot {
  std::vector<FoldEntry> entries;
  std::string keys;
  std::vector<FilePtr> files;  // indexed by file id
  size_t next = 0;
  bool keys_only = false;
};

// Work handed between the halves of a merge.
struct MergeJob {
  std::vector<FilePtr> inputs;  // sorted by rank
  uint64_t oldest_other_rank = UINT64_MAX;  // oldest closed file not merged
  // Phase 1 output: tombstones that may still shadow an older file.
  struct Tombstone {
    std::string key;
    uint64_t timestamp;
  };
  std::vector<Tombstone> tombstones;
  // Phase 2 input: live entries pointing into the inputs (copied on the JS thread).
  struct Live {
    std::string key;
    Loc loc;
  };
  std::vector<Live> live;
  std::vector<FilePtr> files_by_id;  // inputs, indexed by id (sparse)
  uint64_t first_output_rank = 0;
  // Phase 2 output.
  struct Output {
    uint64_t rank;
    std::string data_path;
    std::string hint_path;
    uint64_t bytes;
    uint64_t tombstone_bytes;
  };
  std::vector<Output> outputs;
  struct Moved {
    size_t live_index;
    uint32_t output;  // index into outputs
    uint32_t offset;
  };
  std::vector<Moved> moved;
  std::vector<size_t> corrupt;  // live indexes whose record failed its CRC
  bool cancelled = false;
  std::string error;
};

struct StoreStats {
  uint64_t keys, live_bytes, dead_bytes, files, merges, recovered_records, dropped_records, keydir_bytes,
      hint_files_loaded, truncated_bytes, write_seq, synced_seq;
};

// Process-wide counters of the shared interval sync (IntervalSyncer).
struct SharedSyncStats {
  uint64_t rounds;       // ticks that found at least one store with unsynced writes
  uint64_t syncfs_calls; // one per filesystem per such round
  uint64_t store_syncs;  // stores covered, summed over rounds
  uint64_t errors;
};
SharedSyncStats shared_sync_stats();

class IntervalSyncer;

class Store {
 public:
  // Called on the sync thread after each fdatasync round that someone waits
  // for: (synced sequence, status, message).
  using SyncListener = std::function<void(uint64_t, Status, const std::string&)>;

  Store(std::string dir, Options options, SyncListener on_sync);
  ~Store();

  // Recovers the partition from disk and starts the threads. Runs on a
  // worker thread, before anything else can reach the store.
  void open();
  // Each write returns its sequence number. Durability is the caller's to
  // ask for: request_sync() after a wave of writes (group commit).
  uint64_t put(const uint8_t* key, size_t key_bytes, const uint8_t* value, size_t value_bytes);
  uint64_t remove(const uint8_t* key, size_t key_bytes);
  // `records` holds complete records in the on-disk format with the CRC and
  // timestamp left blank; they are filled in place and written with as few
  // syscalls as the file limit allows.
  uint64_t batch(uint8_t* records, size_t bytes);
  // Finds the key; checks the record's CRC before handing out the value.
  // Returns false when absent. `value` points into the mapping.
  bool get(const uint8_t* key, size_t key_bytes, const uint8_t** value, uint32_t* value_bytes);
  // Asks the sync thread for an fdatasync covering every write so far.
  uint64_t request_sync();
  bool sync_pending() const { return requested_seq_ > synced_seq_seen_; }
  // Called on the JS thread when a sync round's result is delivered.
  void note_synced(uint64_t seq, bool ok) {
    if (ok && seq > synced_seq_seen_) synced_seq_seen_ = seq;
    if (!ok && requested_seq_ <= seq) requested_seq_ = synced_seq_seen_;  // those waiters were rejected
  }

  size_t count() const { return keydir_.size(); }
  // The highest write sequence known to be on disk (any thread).
  uint64_t synced_seq() const {
    std::lock_guard<std::mutex> lk(mu_);
    return synced_seq_;
  }
  StoreStats stats() const;
  // May run off the JS thread once `closing` is set (no JS-thread entry
  // point proceeds after that).
  void close();
  bool closed() const { return closed_ || closing; }

  std::unique_ptr<FoldSnapshot> fold_snapshot(bool keys_only);
  // Reads the value of a snapshot entry (CRC-checked).
  static void fold_value(const FoldSnapshot& snap, const FoldEntry& e, const uint8_t** value);

  // Merge, in three steps: prepare (JS thread) picks files; phase1 (any
  // thread) finds tombstones to keep; middle (JS thread) filters them and
  // copies the live entries; phase2 (any thread) writes new files and hints;
  // finish (JS thread) swaps the keydir and deletes the inputs.
  std::unique_ptr<MergeJob> merge_prepare(bool all);
  void merge_phase1(MergeJob* job);
  bool merge_middle(MergeJob* job);
  void merge_phase2(MergeJob* job);
  uint32_t merge_finish(MergeJob* job);
  void merge_abort(MergeJob* job);
  size_t merge_candidates() const;
  std::atomic<bool> closing{false};
  bool merging = false;

 private:
  FilePtr open_file(uint64_t rank, bool active, bool create);
  void recover_file(const FilePtr& f, bool last);
  bool load_hint(const FilePtr& f);
  void apply(uint32_t file, const ScannedRecord& r);
  void ensure_room(size_t record_bytes);
  void rotate();
  void append(const uint8_t* data, size_t bytes);
  void after_write();
  void sync_loop();
  void hint_loop();
  void write_hint(const FilePtr& f);
  std::vector<FilePtr> files_by_rank() const;

  // Durability kInterval on Linux: the periodic rounds are not this store's
  // own fdatasyncs but IntervalSyncer's, one syncfs per filesystem for every
  // store of the process (a node holds dozens of partitions: 64 stores at
  // 100 ms made 640 fdatasyncs, each its own journal commit, per second).
  // The store's sync thread then only answers explicit requests.
  friend class IntervalSyncer;
  bool shared_sync_ = false;
  uint64_t dev_ = 0;        // st_dev of dir_: stores on one filesystem share a syncfs
  uint64_t due_ms_ = 0;     // under the syncer's lock: the next periodic round

  std::string dir_;
  int lock_fd_ = -1;  // flock on <dir>/LOCK: one writer per partition, across processes
  Options options_;
  SyncListener on_sync_;
  Keydir keydir_;
  std::vector<FilePtr> files_;  // by id; null once deleted
  FilePtr active_;
  std::vector<uint8_t> scratch_;
  bool closed_ = true;
  uint64_t merges_ = 0, recovered_ = 0, dropped_ = 0, hints_loaded_ = 0, truncated_bytes_ = 0;
  uint64_t live_bytes_ = 0, total_bytes_ = 0;

  // Group commit state, shared with the sync thread under mu_.
  std::atomic<uint64_t> write_seq_{0};
  uint64_t requested_seq_ = 0;       // JS thread view of the highest seq someone waits for
  uint64_t synced_seq_seen_ = 0;     // JS thread view of the last sync delivered
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t wanted_seq_ = 0;  // under mu_
  uint64_t synced_seq_ = 0;  // under mu_
  uint64_t notified_seq_ = 0;  // under mu_: the last seq reported through on_sync_
  std::vector<FilePtr> unsynced_closed_;  // under mu_: rotated files not yet synced
  FilePtr sync_active_;                   // under mu_
  bool dir_dirty_ = false;                // under mu_
  uint64_t rotations_ = 0;                // under mu_: files rotated so far
  bool stop_ = false;                     // under mu_
  std::thread sync_thread_;

  std::mutex hint_mu_;
  std::condition_variable hint_cv_;
  std::deque<FilePtr> hint_queue_;
  bool hint_stop_ = false;
  std::thread hint_thread_;
};

}  // namespace log
}  // namespace ringkv
