#include "log_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <unordered_set>

#include "crc32c.h"

namespace ringkv {
namespace log {

[[noreturn]] void throw_errno(const std::string& what) {
  throw StoreError(Status::kIoError, what + ": " + std::strerror(errno));
}

namespace {

uint64_t now_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

std::string rank_name(uint64_t rank) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rank));
  return buf;
}

bool parse_rank(const std::string& name, const char* suffix, uint64_t* rank) {
  size_t sl = std::strlen(suffix);
  if (name.size() != 16 + sl || name.compare(16, sl, suffix) != 0) return false;
  uint64_t r = 0;
  for (size_t i = 0; i < 16; i++) {
    char c = name[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    r = (r << 4) | static_cast<uint64_t>(d);
  }
  *rank = r;
  return true;
}

void write_all(int fd, const uint8_t* data, size_t bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes) {
    ssize_t w = ::write(fd, data + done, bytes - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_errno("write " + path);
    }
    done += static_cast<size_t>(w);
  }
}

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_errno("open dir " + dir);
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  errno = saved;
  if (rc != 0) throw_errno("fsync dir " + dir);
}

size_t record_bytes(size_t key_bytes, size_t value_bytes) { return kHeaderBytes + key_bytes + value_bytes; }

// Header plausibility without the CRC: the declared size, or 0.
size_t plausible_record_at(const uint8_t* base, uint64_t length, uint64_t offset) {
  if (offset > length || length - offset < kHeaderBytes) return 0;
  const uint8_t* p = base + offset;
  uint8_t flags = p[4];
  uint32_t kl = get_u16(p + 13);
  uint32_t vl = get_u32(p + 15);
  if ((flags & ~kFlagTombstone) != 0) return 0;
  if (vl > kMaxValueBytes) return 0;
  if ((flags & kFlagTombstone) != 0 && vl != 0) return 0;
  size_t n = record_bytes(kl, vl);
  if (n > length - offset) return 0;
  return n;
}

ScannedRecord record_at(const uint8_t* base, uint64_t offset) {
  const uint8_t* p = base + offset;
  return ScannedRecord{offset, p[4], get_u64(p + 5), p + kHeaderBytes, get_u16(p + 13), get_u32(p + 15)};
}

struct ScanResult {
  uint64_t valid_end;  // where a torn tail starts (== length when none)
  uint64_t dropped;
};

// Visits every record whose CRC holds. A bad record is skipped by its
// declared length when that lands on a good record (or the end); otherwise
// the scan resynchronises on the next offset that holds a good record. When
// nothing good follows, the rest is a torn tail.
template <typename F>
ScanResult scan_records(const uint8_t* base, uint64_t length, F&& visit) {
  ScanResult res{length, 0};
  uint64_t off = 0;
  while (off < length) {
    size_t n = valid_record_at(base, length, off);
    if (n != 0) {
      visit(record_at(base, off));
      off += n;
      continue;
    }
    size_t declared = plausible_record_at(base, length, off);
    if (declared != 0 && (off + declared == length || valid_record_at(base, length, off + declared) != 0)) {
      res.dropped++;
      off += declared;
      continue;
    }
    uint64_t p = off + 1;
    while (p < length && valid_record_at(base, length, p) == 0) p++;
    res.dropped++;
    if (p < length) {
      off = p;
      continue;
    }
    res.valid_end = off;
    break;
  }
  return res;
}

}  // namespace

size_t valid_record_at(const uint8_t* base, uint64_t length, uint64_t offset) {
  size_t n = plausible_record_at(base, length, offset);
  if (n == 0) return 0;
  const uint8_t* p = base + offset;
  if (crc32c(p + 4, n - 4) != get_u32(p)) return 0;
  return n;
}

DataFile::~DataFile() {
  if (map != nullptr) ::munmap(map, map_bytes);
  if (fd >= 0) ::close(fd);
}

// ---- The shared interval sync ------------------------------------------------
//
// Every store with durability kInterval (on Linux) registers here instead of
// running its own periodic fdatasync. One thread wakes when the earliest
// store is due, collects the due stores that have unsynced writes, and calls
// syncfs once per filesystem among them: one journal commit covers every
// partition's data files, rotated files and directory entries. Correctness
// needs only that each store's writes up to its recorded sequence were
// handed to the kernel before the syncfs began, which holds because the
// sequence is read first.
//
// Locking: mu_ (the syncer's) is held for a whole round, syncfs included, so
// a store cannot be closed and freed while a round uses it; a store's own
// mu_ is taken inside, never the other way round.
class IntervalSyncer {
 public:
  static IntervalSyncer& instance() {
    // Never destroyed: a thread may still be in a round while the process exits.
    static IntervalSyncer* syncer = new IntervalSyncer();
    return *syncer;
  }

  void add(Store* s) {
    std::lock_guard<std::mutex> lk(mu_);
    s->due_ms_ = next_tick(s, steady_ms());
    stores_.push_back(s);
    if (!running_) {
      running_ = true;
      std::thread([this] { loop(); }).detach();
    }
    cv_.notify_one();
  }

  void remove(Store* s) {
    std::lock_guard<std::mutex> lk(mu_);
    stores_.erase(std::remove(stores_.begin(), stores_.end(), s), stores_.end());
    cv_.notify_one();
  }

  SharedSyncStats stats() {
    std::lock_guard<std::mutex> lk(mu_);
    return stats_;
  }

 private:
  struct Item {
    Store* store;
    uint64_t target;
    std::vector<FilePtr> files;  // rotated files not yet synced when the round began
    uint64_t rotations;
  };

  // Rounds fall on multiples of the interval, so stores opened at different
  // moments with the same interval are due together and share a syncfs.
  static uint64_t next_tick(const Store* s, uint64_t now) {
    uint64_t period = std::max<uint64_t>(1, s->options_.sync_interval_ms);
    return (now / period + 1) * period;
  }

  static uint64_t steady_ms() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
  }

  void loop() {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      if (stores_.empty()) {
        running_ = false;  // the next add starts a new thread
        return;
      }
      uint64_t now = steady_ms();
      uint64_t next = UINT64_MAX;
      for (Store* s : stores_) next = std::min(next, s->due_ms_);
      if (next > now) {
        cv_.wait_for(lk, std::chrono::milliseconds(next - now));
        continue;
      }
      std::vector<Item> items;
      for (Store* s : stores_) {
        if (s->due_ms_ > now) continue;
        s->due_ms_ = next_tick(s, now);
        std::lock_guard<std::mutex> slk(s->mu_);
        uint64_t target = s->write_seq_.load();
        if (target == s->synced_seq_ && s->unsynced_closed_.empty() && !s->dir_dirty_) continue;
        items.push_back(Item{s, target, s->unsynced_closed_, s->rotations_});
      }
      if (items.empty()) continue;
      std::map<uint64_t, bool> ok;  // by filesystem
      for (const Item& it : items) {
        if (ok.count(it.store->dev_) != 0) continue;
        int fd = fs_fd(it.store);
        bool good = fd >= 0 && ::syncfs(fd) == 0;
        if (!good) {
          stats_.errors++;
          std::fprintf(stderr, "ringkv log: syncfs for %s failed: %s (retried next round)\n", it.store->dir_.c_str(),
                       std::strerror(errno));
        }
        stats_.syncfs_calls++;
        ok[it.store->dev_] = good;
      }
      stats_.rounds++;
      for (Item& it : items) {
        if (!ok[it.store->dev_]) continue;  // stays dirty: the next round tries again
        stats_.store_syncs++;
        Store* s = it.store;
        std::lock_guard<std::mutex> slk(s->mu_);
        if (it.target > s->synced_seq_) s->synced_seq_ = it.target;
        // Files the store's own thread took meanwhile are gone from the list already.
        auto& list = s->unsynced_closed_;
        list.erase(std::remove_if(list.begin(), list.end(),
                                  [&](const FilePtr& f) {
                                    return std::find(it.files.begin(), it.files.end(), f) != it.files.end();
                                  }),
                   list.end());
        if (s->rotations_ == it.rotations) s->dir_dirty_ = false;
        // Someone waiting for a sequence this round covered is answered by the store's thread.
        if (s->wanted_seq_ > s->notified_seq_) s->cv_.notify_one();
      }
    }
  }

  // One descriptor per filesystem, kept open for the life of the process:
  // syncfs reports a writeback error that happened since the descriptor was
  // opened (Linux >= 5.8), so a descriptor opened per round would miss an
  // error the kernel's own writeback hit between rounds.
  int fs_fd(const Store* s) {
    auto found = fs_fds_.find(s->dev_);
    if (found != fs_fds_.end()) return found->second;
    int fd = ::open(s->dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) fs_fds_[s->dev_] = fd;
    return fd;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Store*> stores_;
  std::map<uint64_t, int> fs_fds_;  // by st_dev
  bool running_ = false;
  SharedSyncStats stats_{};
};

SharedSyncStats shared_sync_stats() { return IntervalSyncer::instance().stats(); }

Store::Store(std::string dir, Options options, SyncListener on_sync)
    : dir_(std::move(dir)), options_(options), on_sync_(std::move(on_sync)) {
  uint64_t cap = (uint64_t{1} << 32) - kMaxRecordBytes - 1;  // offsets are u32
  if (options_.max_file_bytes > cap) options_.max_file_bytes = cap;
  if (options_.max_file_bytes < 4096) options_.max_file_bytes = 4096;
}

Store::~Store() {
  try {
    close();
  } catch (...) {
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);  // open() failed after taking the lock
}

FilePtr Store::open_file(uint64_t rank, bool active, bool create) {
  auto f = std::make_shared<DataFile>();
  f->id = static_cast<uint32_t>(files_.size());
  f->rank = rank;
  f->data_path = dir_ + "/" + rank_name(rank) + ".data";
  f->hint_path = dir_ + "/" + rank_name(rank) + ".hint";
  int flags = (active ? O_RDWR : O_RDONLY) | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
  f->fd = ::open(f->data_path.c_str(), flags, 0644);
  if (f->fd < 0) throw_errno("open " + f->data_path);
  struct stat st;
  if (::fstat(f->fd, &st) != 0) throw_errno("fstat " + f->data_path);
  f->length = static_cast<uint64_t>(st.st_size);
  // The active file reserves address space for its largest possible size.
  f->map_bytes = active ? options_.max_file_bytes + kMaxRecordBytes : static_cast<size_t>(st.st_size);
  if (f->map_bytes > 0) {
    void* m = ::mmap(nullptr, f->map_bytes, PROT_READ, MAP_SHARED, f->fd, 0);
    if (m == MAP_FAILED) throw_errno("mmap " + f->data_path);
    f->map = static_cast<uint8_t*>(m);
  }
  return f;
}

void Store::open() {
  if (::mkdir(dir_.c_str(), 0755) == 0) {
    // The new directory's entry must survive a crash too.
    size_t slash = dir_.find_last_of('/');
    fsync_dir(slash == std::string::npos ? "." : slash == 0 ? "/" : dir_.substr(0, slash));
  } else if (errno != EEXIST) {
    throw_errno("mkdir " + dir_);
  }
  // Two writers appending to one log would interleave records.
  lock_fd_ = ::open((dir_ + "/LOCK").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) throw_errno("open " + dir_ + "/LOCK");
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    int saved = errno;
    ::close(lock_fd_);
    lock_fd_ = -1;
    errno = saved;
    throw_errno("partition " + dir_ + " is open elsewhere (flock)");
  }
  std::vector<uint64_t> ranks;
  std::vector<uint64_t> hint_ranks;
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) throw_errno("opendir " + dir_);
  std::vector<std::string> leftovers;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    uint64_t r;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) leftovers.push_back(name);
    else if (parse_rank(name, ".data", &r)) ranks.push_back(r);
    else if (parse_rank(name, ".hint", &r)) hint_ranks.push_back(r);
  }
  ::closedir(d);
  // A crash mid-merge or mid-hint leaves *.tmp files; their content is
  // either elsewhere already or can be rebuilt.
  for (const std::string& n : leftovers) ::unlink((dir_ + "/" + n).c_str());
  std::sort(ranks.begin(), ranks.end());
  for (uint64_t r : hint_ranks) {
    if (!std::binary_search(ranks.begin(), ranks.end(), r)) ::unlink((dir_ + "/" + rank_name(r) + ".hint").c_str());
  }

  for (size_t i = 0; i < ranks.size(); i++) {
    bool last = i + 1 == ranks.size();
    // The newest file stays writable only if it is a plain rotation file
    // below its limit; merge output is never appended to.
    bool active = last && ranks[i] % kRankStep == 0;
    // The newest file is opened writable (a torn tail gets cut) and mapped
    // with room to grow.
    FilePtr f = open_file(ranks[i], last, false);
    files_.push_back(f);
    recover_file(f, last);
    total_bytes_ += f->length;
    if (active && f->length < options_.max_file_bytes) active_ = f;
  }
  if (!active_) {
    uint64_t rank = ranks.empty() ? kRankStep : (ranks.back() / kRankStep + 1) * kRankStep;
    active_ = open_file(rank, true, true);
    files_.push_back(active_);
    fsync_dir(dir_);
  }
  if (dropped_ > 0) {
    std::fprintf(stderr, "ringkv log: %s: dropped %llu damaged record(s), truncated %llu byte(s) of torn tail\n",
                 dir_.c_str(), static_cast<unsigned long long>(dropped_),
                 static_cast<unsigned long long>(truncated_bytes_));
  }
  closed_ = false;
  sync_active_ = active_;
#ifdef __linux__
  if (options_.durability == Durability::kInterval && options_.shared_sync) {
    struct stat st;
    if (::stat(dir_.c_str(), &st) == 0) {
      dev_ = static_cast<uint64_t>(st.st_dev);
      shared_sync_ = true;
    }
  }
#endif
  sync_thread_ = std::thread([this] { sync_loop(); });
  if (shared_sync_) IntervalSyncer::instance().add(this);
  hint_thread_ = std::thread([this] { hint_loop(); });
  // Closed files reopened without a usable hint get one now.
  for (const FilePtr& f : files_) {
    if (f && f != active_ && ::access(f->hint_path.c_str(), F_OK) != 0) {
      std::lock_guard<std::mutex> lk(hint_mu_);
      hint_queue_.push_back(f);
    }
  }
  hint_cv_.notify_one();
}

void Store::apply(uint32_t file, const ScannedRecord& r) {
  recovered_++;
  Loc prev;
  if ((r.flags & kFlagTombstone) != 0) {
    // Tombstones in merge output were kept on purpose (see merge_middle).
    if (files_[file]->rank % kRankStep != 0) files_[file]->pinned_bytes += record_bytes(r.key_bytes, 0);
    if (keydir_.remove(r.key, r.key_bytes, &prev)) {
      size_t n = record_bytes(r.key_bytes, prev.value_bytes);
      files_[prev.file]->live_bytes -= n;
      live_bytes_ -= n;
    }
    return;
  }
  Loc loc{file, static_cast<uint32_t>(r.offset), r.value_bytes, r.timestamp};
  if (keydir_.put(r.key, r.key_bytes, loc, &prev)) {
    size_t n = record_bytes(r.key_bytes, prev.value_bytes);
    files_[prev.file]->live_bytes -= n;
    live_bytes_ -= n;
  }
  size_t n = record_bytes(r.key_bytes, r.value_bytes);
  files_[file]->live_bytes += n;
  live_bytes_ += n;
}

bool Store::load_hint(const FilePtr& f) {
  int fd = ::open(f->hint_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  std::vector<uint8_t> buf;
  bool ok = ::fstat(fd, &st) == 0 && st.st_size >= static_cast<off_t>(kHintHeaderBytes + 4);
  if (ok) {
    buf.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < buf.size()) {
      ssize_t r = ::read(fd, buf.data() + done, buf.size() - done);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      done += static_cast<size_t>(r);
    }
    ok = done == buf.size();
  }
  ::close(fd);
  if (!ok) return false;
  const uint8_t* p = buf.data();
  size_t n = buf.size();
  if (get_u32(p) != kHintMagic || get_u32(p + 4) != kHintVersion) return false;
  if (crc32c(p, n - 4) != get_u32(p + n - 4)) return false;
  uint64_t data_bytes = get_u64(p + 8);
  uint64_t count = get_u64(p + 16);
  if (data_bytes != f->length) return false;
  // Validate every entry before applying any, so a bad hint leaves no trace.
  size_t pos = kHintHeaderBytes;
  for (uint64_t i = 0; i < count; i++) {
    if (n - 4 - pos < kHintEntryBytes) return false;
    uint32_t kl = get_u16(p + pos + 1);
    uint32_t vl = get_u32(p + pos + 3);
    uint32_t off = get_u32(p + pos + 7);
    if (n - 4 - pos - kHintEntryBytes < kl) return false;
    if (static_cast<uint64_t>(off) + record_bytes(kl, vl) > data_bytes) return false;
    pos += kHintEntryBytes + kl;
  }
  if (pos != n - 4) return false;
  pos = kHintHeaderBytes;
  for (uint64_t i = 0; i < count; i++) {
    const uint8_t* e = p + pos;
    ScannedRecord r{get_u32(e + 7), e[0], get_u64(e + 11), e + kHintEntryBytes, get_u16(e + 1), get_u32(e + 3)};
    apply(f->id, r);
    pos += kHintEntryBytes + r.key_bytes;
  }
  return true;
}

void Store::recover_file(const FilePtr& f, bool last) {
  // The newest file has a hint only after a clean close; the hint records
  // the data length it covers, so any later append makes it stale (refused).
  if (load_hint(f)) {
    hints_loaded_++;
    return;
  }
  uint64_t length = f->length;
  ScanResult res = scan_records(f->map, length, [&](const ScannedRecord& r) { apply(f->id, r); });
  dropped_ += res.dropped;
  if (res.valid_end < length && last) {
    // A torn tail: cut it so that appends continue from a clean end.
    if (::ftruncate(f->fd, static_cast<off_t>(res.valid_end)) != 0) throw_errno("ftruncate " + f->data_path);
    if (::fdatasync(f->fd) != 0) throw_errno("fdatasync " + f->data_path);
    truncated_bytes_ += length - res.valid_end;
    f->length = res.valid_end;
  }
}

void Store::append(const uint8_t* data, size_t bytes) {
  DataFile& f = *active_;
  uint64_t start = f.length;
  size_t done = 0;
  while (done < bytes) {
    ssize_t w = ::pwrite(f.fd, data + done, bytes - done, static_cast<off_t>(start + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      int saved = errno;
      // Leave no partial record behind.
      if (::ftruncate(f.fd, static_cast<off_t>(start)) != 0) {
      }
      errno = saved;
      throw_errno("write " + f.data_path);
    }
    done += static_cast<size_t>(w);
  }
  f.length = start + bytes;
  total_bytes_ += bytes;
}

void Store::ensure_room(size_t bytes) {
  uint64_t len = active_->length;
  if (len > 0 && len + bytes > options_.max_file_bytes) rotate();
}

void Store::rotate() {
  FilePtr old = active_;
  uint64_t rank = (old->rank / kRankStep + 1) * kRankStep;
  FilePtr f = open_file(rank, true, true);
  files_.push_back(f);
  active_ = f;
  {
    std::lock_guard<std::mutex> lk(mu_);
    unsynced_closed_.push_back(old);
    sync_active_ = f;
    dir_dirty_ = true;
    rotations_++;
  }
  {
    std::lock_guard<std::mutex> lk(hint_mu_);
    hint_queue_.push_back(old);
  }
  hint_cv_.notify_one();
}

void Store::after_write() {
  // With durability `always` the caller asks for the sync (request_sync)
  // once per batch of writers: asking per write would start an fdatasync
  // for the first writer of a wave and make the rest wait for the next one.
  ++write_seq_;
}

static void check_open(bool closed) {
  if (closed) throw StoreError(Status::kClosed, "partition is closed");
}

uint64_t Store::put(const uint8_t* key, size_t key_bytes, const uint8_t* value, size_t value_bytes) {
  check_open(closed_ || closing);
  if (key_bytes > kMaxKeyBytes) throw StoreError(Status::kTooLarge, "key is larger than 65535 bytes");
  if (value_bytes > kMaxValueBytes) throw StoreError(Status::kTooLarge, "value is larger than 64 MiB");
  size_t n = record_bytes(key_bytes, value_bytes);
  if (scratch_.size() < n) scratch_.resize(n);
  uint8_t* p = scratch_.data();
  uint64_t ts = now_ms();
  p[4] = 0;
  put_u64(p + 5, ts);
  put_u16(p + 13, static_cast<uint16_t>(key_bytes));
  put_u32(p + 15, static_cast<uint32_t>(value_bytes));
  if (key_bytes > 0) std::memcpy(p + kHeaderBytes, key, key_bytes);
  if (value_bytes > 0) std::memcpy(p + kHeaderBytes + key_bytes, value, value_bytes);
  put_u32(p, crc32c(p + 4, n - 4));
  ensure_room(n);
  uint64_t offset = active_->length;
  append(p, n);
  Loc prev;
  Loc loc{active_->id, static_cast<uint32_t>(offset), static_cast<uint32_t>(value_bytes), ts};
  if (keydir_.put(key, key_bytes, loc, &prev)) {
    size_t old = record_bytes(key_bytes, prev.value_bytes);
    files_[prev.file]->live_bytes -= old;
    live_bytes_ -= old;
  }
  active_->live_bytes += n;
  live_bytes_ += n;
  after_write();
  return write_seq_;
}

uint64_t Store::remove(const uint8_t* key, size_t key_bytes) {
  check_open(closed_ || closing);
  if (key_bytes > kMaxKeyBytes) throw StoreError(Status::kTooLarge, "key is larger than 65535 bytes");
  Loc prev;
  if (!keydir_.find(key, key_bytes, &prev)) return write_seq_;  // absent: nothing to write
  size_t n = record_bytes(key_bytes, 0);
  if (scratch_.size() < n) scratch_.resize(n);
  uint8_t* p = scratch_.data();
  p[4] = kFlagTombstone;
  put_u64(p + 5, now_ms());
  put_u16(p + 13, static_cast<uint16_t>(key_bytes));
  put_u32(p + 15, 0);
  if (key_bytes > 0) std::memcpy(p + kHeaderBytes, key, key_bytes);
  put_u32(p, crc32c(p + 4, n - 4));
  ensure_room(n);
  append(p, n);
  keydir_.remove(key, key_bytes, &prev);
  size_t old = record_bytes(key_bytes, prev.value_bytes);
  files_[prev.file]->live_bytes -= old;
  live_bytes_ -= old;
  after_write();
  return write_seq_;
}

uint64_t Store::batch(uint8_t* records, size_t bytes) {
  check_open(closed_ || closing);
  // Check the whole layout before writing anything.
  uint64_t ts = now_ms();
  size_t off = 0;
  while (off < bytes) {
    if (bytes - off < kHeaderBytes) throw StoreError(Status::kBadArgument, "batch: truncated record header");
    uint8_t* p = records + off;
    uint8_t flags = p[4];
    uint32_t kl = get_u16(p + 13);
    uint32_t vl = get_u32(p + 15);
    if ((flags & ~kFlagTombstone) != 0) throw StoreError(Status::kBadArgument, "batch: unknown flags");
    if (vl > kMaxValueBytes) throw StoreError(Status::kTooLarge, "value is larger than 64 MiB");
    if ((flags & kFlagTombstone) != 0 && vl != 0) throw StoreError(Status::kBadArgument, "batch: tombstone with a value");
    size_t n = record_bytes(kl, vl);
    if (n > bytes - off) throw StoreError(Status::kBadArgument, "batch: record overruns the buffer");
    off += n;
  }
  off = 0;
  while (off < bytes) {
    uint8_t* p = records + off;
    size_t n = record_bytes(get_u16(p + 13), get_u32(p + 15));
    put_u64(p + 5, ts);
    put_u32(p, crc32c(p + 4, n - 4));
    off += n;
  }
  // Write in as few pieces as rotation allows; index each piece once written.
  auto index = [&](size_t from, size_t to, uint64_t base) {
    for (size_t o = from; o < to;) {
      ScannedRecord r = record_at(records, o);
      size_t n = record_bytes(r.key_bytes, r.value_bytes);
      r.offset = base + (o - from);
      Loc prev;
      if ((r.flags & kFlagTombstone) != 0) {
        if (keydir_.remove(r.key, r.key_bytes, &prev)) {
          size_t old = record_bytes(r.key_bytes, prev.value_bytes);
          files_[prev.file]->live_bytes -= old;
          live_bytes_ -= old;
        }
      } else {
        Loc loc{active_->id, static_cast<uint32_t>(r.offset), r.value_bytes, ts};
        if (keydir_.put(r.key, r.key_bytes, loc, &prev)) {
          size_t old = record_bytes(r.key_bytes, prev.value_bytes);
          files_[prev.file]->live_bytes -= old;
          live_bytes_ -= old;
        }
        active_->live_bytes += n;
        live_bytes_ += n;
      }
      o += n;
    }
  };
  size_t seg = 0;
  off = 0;
  while (off < bytes) {
    size_t n = record_bytes(get_u16(records + off + 13), get_u32(records + off + 15));
    uint64_t pending = active_->length + (off - seg);
    if (pending > 0 && pending + n > options_.max_file_bytes) {
      if (off > seg) {
        uint64_t base = active_->length;
        append(records + seg, off - seg);
        index(seg, off, base);
      }
      rotate();
      seg = off;
    }
    off += n;
  }
  if (bytes > seg) {
    uint64_t base = active_->length;
    append(records + seg, bytes - seg);
    index(seg, bytes, base);
  }
  after_write();
  return write_seq_;
}

bool Store::get(const uint8_t* key, size_t key_bytes, const uint8_t** value, uint32_t* value_bytes) {
  check_open(closed_ || closing);
  Loc loc;
  if (!keydir_.find(key, key_bytes, &loc)) return false;
  const DataFile& f = *files_[loc.file];
  size_t n = record_bytes(key_bytes, loc.value_bytes);
  const uint8_t* p = f.map + loc.offset;
  // Check the record before handing out its bytes: hint-loaded files were
  // never scanned, and a disk may rot after recovery.
  if (static_cast<uint64_t>(loc.offset) + n > f.length || get_u16(p + 13) != key_bytes ||
      get_u32(p + 15) != loc.value_bytes || p[4] != 0 || crc32c(p + 4, n - 4) != get_u32(p) ||
      std::memcmp(p + kHeaderBytes, key, key_bytes) != 0) {
    throw StoreError(Status::kCorruption, "record failed its checksum in " + f.data_path + " at offset " +
                                              std::to_string(loc.offset));
  }
  *value = p + kHeaderBytes + key_bytes;
  *value_bytes = loc.value_bytes;
  return true;
}

uint64_t Store::request_sync() {
  check_open(closed_ || closing);
  uint64_t seq = write_seq_;
  if (seq > synced_seq_seen_) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (seq > wanted_seq_) wanted_seq_ = seq;
    }
    cv_.notify_one();
    if (seq > requested_seq_) requested_seq_ = seq;
  }
  return seq;
}

void Store::sync_loop() {
  using clock = std::chrono::steady_clock;
  // Periodic rounds are this thread's only when the shared syncer is not in use.
  const bool interval = options_.durability == Durability::kInterval && !shared_sync_;
  const auto period = std::chrono::milliseconds(std::max<uint32_t>(1, options_.sync_interval_ms));
  auto due = clock::now() + period;
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    // Someone waits for a seq that was not reported yet (it may already be
    // synced by a periodic round that nobody waited for).
    auto ready = [&] { return stop_ || wanted_seq_ > notified_seq_; };
    if (interval) cv_.wait_until(lk, due, ready);
    else cv_.wait(lk, ready);
    bool periodic = interval && clock::now() >= due;
    if (periodic) due = clock::now() + period;
    bool waited_for = wanted_seq_ > notified_seq_;
    if (stop_ && !waited_for) break;
    if (waited_for && wanted_seq_ <= synced_seq_) {
      uint64_t seq = synced_seq_;
      notified_seq_ = seq;
      lk.unlock();
      if (on_sync_) on_sync_(seq, Status::kOk, std::string());
      lk.lock();
      continue;
    }
    uint64_t target = write_seq_.load();
    if (!waited_for && (target == synced_seq_ && unsynced_closed_.empty() && !dir_dirty_)) continue;
    if (!waited_for && !periodic) continue;
    std::vector<FilePtr> files;
    files.swap(unsynced_closed_);
    FilePtr active = sync_active_;
    bool dir = dir_dirty_;
    dir_dirty_ = false;
    lk.unlock();
    Status status = Status::kOk;
    std::string message;
    try {
      for (const FilePtr& f : files) {
        if (::fdatasync(f->fd) != 0) throw_errno("fdatasync " + f->data_path);
      }
      if (active && ::fdatasync(active->fd) != 0) throw_errno("fdatasync " + active->data_path);
      if (dir) fsync_dir(dir_);
    } catch (const StoreError& e) {
      status = e.status();
      message = e.what();
    }
    lk.lock();
    if (status == Status::kOk && target > synced_seq_) synced_seq_ = target;
    // Everyone who asked for a seq <= target is answered by this round. A
    // failed round answers them with the error and forgets their demand (a
    // later request asks afresh) instead of retrying in a loop.
    if (wanted_seq_ > notified_seq_) {
      if (status == Status::kOk) notified_seq_ = std::max(notified_seq_, target);
      else if (wanted_seq_ <= target) wanted_seq_ = notified_seq_;
      lk.unlock();
      if (on_sync_) on_sync_(target, status, message);
      lk.lock();
    }
  }
}

void Store::hint_loop() {
  std::unique_lock<std::mutex> lk(hint_mu_);
  for (;;) {
    hint_cv_.wait(lk, [&] { return hint_stop_ || !hint_queue_.empty(); });
    if (hint_queue_.empty()) break;
    FilePtr f = hint_queue_.front();
    hint_queue_.pop_front();
    lk.unlock();
    try {
      write_hint(f);
    } catch (const StoreError& e) {
      // A missing hint only costs a scan on the next open.
      std::fprintf(stderr, "ringkv log: hint for %s not written: %s\n", f->data_path.c_str(), e.what());
    }
    lk.lock();
  }
}

void Store::write_hint(const FilePtr& f) {
  {
    std::lock_guard<std::mutex> lk(f->delete_mu);
    if (f->deleted) return;
  }
  // The hint vouches for the data: the data must be on disk first.
  if (::fdatasync(f->fd) != 0) throw_errno("fdatasync " + f->data_path);
  uint64_t length = f->length;
  std::vector<uint8_t> buf(kHintHeaderBytes);
  uint64_t count = 0;
  ScanResult res = scan_records(f->map, length, [&](const ScannedRecord& r) {
    size_t at = buf.size();
    buf.resize(at + kHintEntryBytes + r.key_bytes);
    uint8_t* e = buf.data() + at;
    e[0] = r.flags;
    put_u16(e + 1, static_cast<uint16_t>(r.key_bytes));
    put_u32(e + 3, r.value_bytes);
    put_u32(e + 7, static_cast<uint32_t>(r.offset));
    put_u64(e + 11, r.timestamp);
    std::memcpy(e + kHintEntryBytes, r.key, r.key_bytes);
    count++;
  });
  if (res.dropped > 0) return;  // leave damaged files to the scan on open
  put_u32(buf.data(), kHintMagic);
  put_u32(buf.data() + 4, kHintVersion);
  put_u64(buf.data() + 8, length);
  put_u64(buf.data() + 16, count);
  uint8_t crc[4];
  put_u32(crc, crc32c(buf.data(), buf.size()));
  buf.insert(buf.end(), crc, crc + 4);
  std::string tmp = f->hint_path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_errno("open " + tmp);
  try {
    write_all(fd, buf.data(), buf.size(), tmp);
    if (::fdatasync(fd) != 0) throw_errno("fdatasync " + tmp);
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  std::lock_guard<std::mutex> lk(f->delete_mu);
  if (f->deleted || ::rename(tmp.c_str(), f->hint_path.c_str()) != 0) ::unlink(tmp.c_str());
}

StoreStats Store::stats() const {
  check_open(closed_ || closing);
  uint64_t files = 0;
  for (const FilePtr& f : files_) files += f ? 1 : 0;
  return StoreStats{keydir_.size(), live_bytes_,      total_bytes_ - live_bytes_, files,
                    merges_,        recovered_,       dropped_,                   keydir_.memory_bytes(),
                    hints_loaded_,  truncated_bytes_,  write_seq_.load(),          synced_seq()};
}

void Store::close() {
  if (closed_) return;
  closing = true;
  // Before our own lock: the syncer takes its lock, then ours.
  if (shared_sync_) IntervalSyncer::instance().remove(this);
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (sync_thread_.joinable()) sync_thread_.join();
  {
    std::lock_guard<std::mutex> lk(hint_mu_);
    hint_stop_ = true;
  }
  hint_cv_.notify_all();
  if (hint_thread_.joinable()) hint_thread_.join();
  closed_ = true;
  std::string error;
  if (active_ && active_->length > 0) {
    // A hint for the active file makes the next open skip its scan too.
    try {
      write_hint(active_);
    } catch (const StoreError& e) {
      std::fprintf(stderr, "ringkv log: hint for %s not written: %s\n", active_->data_path.c_str(), e.what());
    }
  }
  for (const FilePtr& f : unsynced_closed_) {
    if (::fdatasync(f->fd) != 0 && error.empty()) error = "fdatasync " + f->data_path + ": " + std::strerror(errno);
  }
  if (active_ && ::fdatasync(active_->fd) != 0 && error.empty())
    error = "fdatasync " + active_->data_path + ": " + std::strerror(errno);
  unsynced_closed_.clear();
  sync_active_.reset();
  active_.reset();
  files_.clear();
  if (lock_fd_ >= 0) ::close(lock_fd_);  // drops the flock
  lock_fd_ = -1;
  if (!error.empty()) throw StoreError(Status::kIoError, error);
}

std::unique_ptr<FoldSnapshot> Store::fold_snapshot(bool keys_only) {
  check_open(closed_ || closing);
  auto snap = std::make_unique<FoldSnapshot>();
  snap->keys_only = keys_only;
  snap->files = files_;
  snap->entries.reserve(keydir_.size());
  keydir_.for_each([&](const uint8_t* key, size_t key_bytes, const Loc& loc) {
    snap->entries.push_back(FoldEntry{snap->keys.size(), static_cast<uint16_t>(key_bytes), loc});
    snap->keys.append(reinterpret_cast<const char*>(key), key_bytes);
  });
  return snap;
}

void Store::fold_value(const FoldSnapshot& snap, const FoldEntry& e, const uint8_t** value) {
  const DataFile& f = *snap.files[e.loc.file];
  size_t n = record_bytes(e.key_bytes, e.loc.value_bytes);
  const uint8_t* p = f.map + e.loc.offset;
  if (static_cast<uint64_t>(e.loc.offset) + n > f.length || get_u16(p + 13) != e.key_bytes ||
      get_u32(p + 15) != e.loc.value_bytes || crc32c(p + 4, n - 4) != get_u32(p) ||
      std::memcmp(p + kHeaderBytes, snap.keys.data() + e.key_offset, e.key_bytes) != 0) {
    throw StoreError(Status::kCorruption, "record failed its checksum in " + f.data_path + " at offset " +
                                              std::to_string(e.loc.offset));
  }
  *value = p + kHeaderBytes + e.key_bytes;
}

// ---- merge ----

namespace {
bool past_threshold(const DataFile& f, double threshold) {
  uint64_t len = f.length;
  uint64_t dead = len - f.live_bytes - std::min(f.pinned_bytes, len - f.live_bytes);
  return len == 0 || static_cast<double>(dead) >= threshold * static_cast<double>(len);
}
}  // namespace

size_t Store::merge_candidates() const {
  if (closed_ || closing) return 0;
  size_t n = 0;
  for (const FilePtr& f : files_) {
    if (f && f != active_ && past_threshold(*f, options_.merge_threshold)) n++;
  }
  return n;
}

std::unique_ptr<MergeJob> Store::merge_prepare(bool all) {
  check_open(closed_ || closing);
  if (merging) return nullptr;
  std::vector<FilePtr> closed = files_by_rank();
  closed.erase(std::remove(closed.begin(), closed.end(), active_), closed.end());
  auto job = std::make_unique<MergeJob>();
  for (const FilePtr& f : closed) {
    uint64_t len = f->length;
    bool pick = all ? len == 0 || len > f->live_bytes : past_threshold(*f, options_.merge_threshold);
    if (pick) job->inputs.push_back(f);
    else if (f->rank < job->oldest_other_rank) job->oldest_other_rank = f->rank;
  }
  if (job->inputs.empty()) return nullptr;
  merging = true;
  return job;
}

std::vector<FilePtr> Store::files_by_rank() const {
  std::vector<FilePtr> v;
  for (const FilePtr& f : files_) {
    if (f) v.push_back(f);
  }
  std::sort(v.begin(), v.end(), [](const FilePtr& a, const FilePtr& b) { return a->rank < b->rank; });
  return v;
}

void Store::merge_phase1(MergeJob* job) {
  for (const FilePtr& f : job->inputs) {
    if (closing) {
      job->cancelled = true;
      return;
    }
    // A tombstone matters only while an older file outside this merge may
    // still hold a value for its key.
    if (job->oldest_other_rank >= f->rank) continue;
    scan_records(f->map, f->length, [&](const ScannedRecord& r) {
      if ((r.flags & kFlagTombstone) != 0)
        job->tombstones.push_back({std::string(reinterpret_cast<const char*>(r.key), r.key_bytes), r.timestamp});
    });
  }
}

bool Store::merge_middle(MergeJob* job) {
  if (closed_ || closing || job->cancelled) return false;
  // Keep a tombstone only while its key is absent: if the key was written
  // again, that newer record already wins, and a copied tombstone (ranked
  // above every closed file) would wrongly shadow it on reload.
  std::unordered_set<std::string> seen;
  std::vector<MergeJob::Tombstone> kept;
  for (auto& t : job->tombstones) {
    Loc loc;
    if (keydir_.find(reinterpret_cast<const uint8_t*>(t.key.data()), t.key.size(), &loc)) continue;
    if (!seen.insert(t.key).second) continue;
    kept.push_back(std::move(t));
  }
  job->tombstones.swap(kept);
  uint32_t max_id = 0;
  for (const FilePtr& f : job->inputs) max_id = std::max(max_id, f->id);
  job->files_by_id.assign(max_id + 1, nullptr);
  for (const FilePtr& f : job->inputs) job->files_by_id[f->id] = f;
  keydir_.for_each([&](const uint8_t* key, size_t key_bytes, const Loc& loc) {
    if (loc.file <= max_id && job->files_by_id[loc.file])
      job->live.push_back({std::string(reinterpret_cast<const char*>(key), key_bytes), loc});
  });
  uint64_t max_closed = 0;
  for (const FilePtr& f : files_) {
    if (f && f != active_) max_closed = std::max(max_closed, f->rank);
  }
  job->first_output_rank = max_closed + 1;
  // Output must rank below the active file; leave room for many outputs.
  if (job->first_output_rank + 4096 >= active_->rank) return false;
  return true;
}

void Store::merge_phase2(MergeJob* job) {
  std::vector<size_t> order(job->live.size());
  for (size_t i = 0; i < order.size(); i++) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const Loc& x = job->live[a].loc;
    const Loc& y = job->live[b].loc;
    uint64_t rx = job->files_by_id[x.file]->rank, ry = job->files_by_id[y.file]->rank;
    return rx != ry ? rx < ry : x.offset < y.offset;
  });

  int fd = -1;
  std::vector<uint8_t> out;   // pending data bytes
  std::vector<uint8_t> hint;  // hint of the current output
  uint64_t written = 0, count = 0;
  std::string tmp_data, tmp_hint;
  auto flush = [&] {
    if (!out.empty()) write_all(fd, out.data(), out.size(), tmp_data);
    out.clear();
  };
  auto finish_output = [&] {
    if (fd < 0) return;
    flush();
    if (::fdatasync(fd) != 0) throw_errno("fdatasync " + tmp_data);
    ::close(fd);
    fd = -1;
    put_u32(hint.data(), kHintMagic);
    put_u32(hint.data() + 4, kHintVersion);
    put_u64(hint.data() + 8, written);
    put_u64(hint.data() + 16, count);
    uint8_t crc[4];
    put_u32(crc, crc32c(hint.data(), hint.size()));
    hint.insert(hint.end(), crc, crc + 4);
    int hfd = ::open(tmp_hint.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (hfd < 0) throw_errno("open " + tmp_hint);
    write_all(hfd, hint.data(), hint.size(), tmp_hint);
    bool ok = ::fdatasync(hfd) == 0;
    ::close(hfd);
    if (!ok) throw_errno("fdatasync " + tmp_hint);
    job->outputs.back().bytes = written;
  };
  auto start_output = [&] {
    MergeJob::Output o;
    o.rank = job->first_output_rank + job->outputs.size();
    o.data_path = dir_ + "/" + rank_name(o.rank) + ".data";
    o.hint_path = dir_ + "/" + rank_name(o.rank) + ".hint";
    o.bytes = 0;
    o.tombstone_bytes = 0;
    job->outputs.push_back(o);
    tmp_data = o.data_path + ".tmp";
    tmp_hint = o.hint_path + ".tmp";
    fd = ::open(tmp_data.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw_errno("open " + tmp_data);
    hint.assign(kHintHeaderBytes, 0);
    written = 0;
    count = 0;
  };
  auto emit = [&](const uint8_t* rec, size_t n, uint8_t flags, uint64_t ts, const uint8_t* key, uint32_t kl,
                  uint32_t vl) -> std::pair<uint32_t, uint32_t> {
    if (fd < 0 || (written > 0 && written + n > options_.max_file_bytes)) {
      finish_output();
      start_output();
    }
    uint32_t offset = static_cast<uint32_t>(written);
    if ((flags & kFlagTombstone) != 0) job->outputs.back().tombstone_bytes += n;
    out.insert(out.end(), rec, rec + n);
    if (out.size() >= (1u << 20)) flush();
    written += n;
    size_t at = hint.size();
    hint.resize(at + kHintEntryBytes + kl);
    uint8_t* e = hint.data() + at;
    e[0] = flags;
    put_u16(e + 1, static_cast<uint16_t>(kl));
    put_u32(e + 3, vl);
    put_u32(e + 7, offset);
    put_u64(e + 11, ts);
    std::memcpy(e + kHintEntryBytes, key, kl);
    count++;
    return {static_cast<uint32_t>(job->outputs.size() - 1), offset};
  };
  try {
    size_t step = 0;
    for (size_t idx : order) {
      if ((++step & 1023) == 0 && closing) {
        job->cancelled = true;
        break;
      }
      const MergeJob::Live& l = job->live[idx];
      const DataFile& f = *job->files_by_id[l.loc.file];
      size_t n = valid_record_at(f.map, f.length, l.loc.offset);
      const uint8_t* p = f.map + l.loc.offset;
      if (n == 0 || get_u16(p + 13) != l.key.size() || get_u32(p + 15) != l.loc.value_bytes || p[4] != 0 ||
          std::memcmp(p + kHeaderBytes, l.key.data(), l.key.size()) != 0) {
        job->corrupt.push_back(idx);
        continue;
      }
      auto at = emit(p, n, 0, get_u64(p + 5), p + kHeaderBytes, static_cast<uint32_t>(l.key.size()), l.loc.value_bytes);
      job->moved.push_back({idx, at.first, at.second});
    }
    if (!job->cancelled) {
      std::vector<uint8_t> rec;
      for (const auto& t : job->tombstones) {
        size_t n = record_bytes(t.key.size(), 0);
        rec.assign(n, 0);
        rec[4] = kFlagTombstone;
        put_u64(rec.data() + 5, t.timestamp);
        put_u16(rec.data() + 13, static_cast<uint16_t>(t.key.size()));
        std::memcpy(rec.data() + kHeaderBytes, t.key.data(), t.key.size());
        put_u32(rec.data(), crc32c(rec.data() + 4, n - 4));
        emit(rec.data(), n, kFlagTombstone, t.timestamp, rec.data() + kHeaderBytes,
             static_cast<uint32_t>(t.key.size()), 0);
      }
      finish_output();
    }
    if (job->cancelled || closing) {
      job->cancelled = true;
      merge_abort(job);
      return;
    }
    // Data before hints: a data file without its hint is merely scanned.
    for (const auto& o : job->outputs) {
      if (::rename((o.data_path + ".tmp").c_str(), o.data_path.c_str()) != 0) throw_errno("rename " + o.data_path);
    }
    for (const auto& o : job->outputs) {
      if (::rename((o.hint_path + ".tmp").c_str(), o.hint_path.c_str()) != 0) throw_errno("rename " + o.hint_path);
    }
    fsync_dir(dir_);
  } catch (const StoreError& e) {
    if (fd >= 0) ::close(fd);
    job->error = e.what();
    merge_abort(job);
  }
}

void Store::merge_abort(MergeJob* job) {
  for (const auto& o : job->outputs) {
    ::unlink((o.data_path + ".tmp").c_str());
    ::unlink((o.hint_path + ".tmp").c_str());
  }
  job->outputs.clear();
}

uint32_t Store::merge_finish(MergeJob* job) {
  merging = false;
  if (closed_ || closing || job->cancelled || !job->error.empty()) return 0;
  std::vector<FilePtr> outs;
  for (const auto& o : job->outputs) {
    FilePtr f = open_file(o.rank, false, false);
    f->pinned_bytes = o.tombstone_bytes;
    files_.push_back(f);
    total_bytes_ += f->length;
    outs.push_back(f);
  }
  for (const auto& m : job->moved) {
    const MergeJob::Live& l = job->live[m.live_index];
    const FilePtr& out = outs[m.output];
    Loc loc{out->id, m.offset, l.loc.value_bytes, l.loc.timestamp};
    const uint8_t* key = reinterpret_cast<const uint8_t*>(l.key.data());
    if (keydir_.replace_if(key, l.key.size(), l.loc.file, l.loc.offset, loc)) {
      size_t n = record_bytes(l.key.size(), l.loc.value_bytes);
      out->live_bytes += n;
      files_[l.loc.file]->live_bytes -= n;
    }
  }
  for (size_t idx : job->corrupt) {
    const MergeJob::Live& l = job->live[idx];
    const uint8_t* key = reinterpret_cast<const uint8_t*>(l.key.data());
    Loc loc;
    if (keydir_.find(key, l.key.size(), &loc) && loc.file == l.loc.file && loc.offset == l.loc.offset) {
      keydir_.remove(key, l.key.size(), nullptr);
      size_t n = record_bytes(l.key.size(), l.loc.value_bytes);
      files_[l.loc.file]->live_bytes -= n;
      live_bytes_ -= n;
      dropped_++;
    }
  }
  for (const FilePtr& f : job->inputs) {
    {
      std::lock_guard<std::mutex> lk(f->delete_mu);
      f->deleted = true;
      ::unlink(f->hint_path.c_str());
      ::unlink(f->data_path.c_str());
    }
    total_bytes_ -= f->length;
    files_[f->id] = nullptr;
  }
  merges_++;
  return static_cast<uint32_t>(job->inputs.size());
}

}  // namespace log
}  // namespace ringkv
