// StatCache: a persistent map from a context file's identity (path, device, inode, size, mtime
// and ctime in ns) to its content digest, so unchanged files are not read again.
//
// One file per context directory: <dir>/<sha256 of the context's absolute path>, a text file of
// "<dev> <ino> <size> <mtime_ns> <ctime_ns> <sha256 hex> <path>\n" lines, replaced atomically.
// Two processes saving at once is harmless: the last writer wins, and an entry only ever
// saves work — a lookup matches only when every stat field is identical.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/digest.h"
#include "common/result.h"

namespace cb::planner {

/// Thread-safe (Lookup/Insert from several hashing threads).
class StatCache {
 public:
  /// A disabled cache (no file): Lookup always misses, Save does nothing.
  StatCache() = default;
  StatCache(const StatCache&) = delete;
  StatCache& operator=(const StatCache&) = delete;

  /// Loads the cache of `context_dir` from `cache_dir` (created when missing). A missing or
  /// unreadable cache file is an empty cache, never an error.
  static std::unique_ptr<StatCache> Open(const std::string& cache_dir, const std::string& context_dir);

  /// Whether anything is stored for `rel` (so a Lookup could match): when not, the walk opens
  /// the file and takes its stat from the descriptor instead of a separate lookup by name.
  bool Knows(const std::string& rel) const;

  /// The digest stored for `rel` when `st` matches what was stored.
  bool Lookup(const std::string& rel, const struct stat& st, Digest* out) const;

  /// Records a freshly computed digest. Entries whose ctime is within the timestamp
  /// granularity of `hash_start_ns` ("racily clean": a later write in the same clock tick
  /// would not change the stat) are not kept, so they are read again next time.
  void Insert(const std::string& rel, const struct stat& st, const Digest& d, int64_t hash_start_ns);

  /// Writes the cache back if anything changed. Errors name the file.
  Status Save();

  size_t size() const { return map_.size(); }

 private:
  struct Entry {
    uint64_t dev = 0, ino = 0;
    int64_t size = 0, mtime_ns = 0, ctime_ns = 0;
    Digest digest;
  };
  static Entry EntryOf(const struct stat& st);
  std::string path_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> map_;
  bool dirty_ = false;
};

}  // namespace cb::planner
