// ContextHasher: content digests of build-context files, as COPY/ADD will write them.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/digest.h"
#include "common/file_listing.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace cb::planner {

class IgnoreMatcher;
class StatCache;

// The listing type and its helpers live in common/ (the build history compares listings too).
using cb::ContextFile;
using cb::FirstDifference;
using cb::ParseFiles;
using cb::SerializeFiles;

/// The result of hashing a set of sources: one digest for the cache key plus the per-file
/// listing behind it, so a cache miss can name the file that changed (see FirstDifference).
struct SourcesHash {
  Digest digest;
  std::vector<ContextFile> files;  ///< in hashing order: sources in order, each walked sorted
};

/// Counters for progress and benchmarks.
struct HashStats {
  int64_t files = 0;        ///< regular files below the sources
  int64_t files_read = 0;   ///< of those, read and hashed (stat-cache misses)
  int64_t bytes_read = 0;   ///< bytes hashed
};

/// Reads only the files that COPY sources name; every path is resolved inside the context
/// (symlinks below a source are recorded, never followed; the named source itself is resolved
/// inside the context, so even an absolute symlink cannot lead out). Files excluded by the
/// .dockerignore matcher are invisible: not hashed, and a source that is excluded is kNotFound.
/// Regular files are hashed on all cores (TBB); with a stat-cache directory, a file whose
/// device, inode, size, mtime and ctime (ns) are unchanged since the last build is not read.
///
/// Thread-safe: HashSources* may be called from several threads (or TBB
/// tasks) at once; each call waits on its own TBB task group and holds no lock while it waits.
/// Movable (not while calls are running). The stat cache is written back by SaveStatCache()
/// and, failing that, when the hasher is destroyed.
class ContextHasher {
 public:
  /// No ignore file, no persistent stat cache.
  static Result<ContextHasher> Open(const std::string& context_dir);
  /// `ignore` (may be null; not owned, must outlive the hasher) filters the context;
  /// `stat_cache_dir` (e.g. "<root>/context-cache"; empty = none) holds the stat cache.
  static Result<ContextHasher> Open(const std::string& context_dir, const IgnoreMatcher* ignore,
                                    const std::string& stat_cache_dir);
  ContextHasher(ContextHasher&&) noexcept;
  ContextHasher& operator=(ContextHasher&&) noexcept;
  ~ContextHasher();

  /// A digest over the given sources (paths relative to the context, as written): for each
  /// source its name, then for every entry below it (itself for a file) its relative path,
  /// st_mode (type and permission bits), and content digest, link target or device numbers
  /// (FIFOs and devices are never opened; sockets are left out, as COPY skips them). Times and owners
  /// are left out: COPY writes files as 0:0 (or --chown, which the caller keys itself) and
  /// layer times are clamped. kNotFound names the missing source. Wildcards are NOT expanded
  /// here: call planner::ExpandSources (source_expand.h) first.
  Result<Digest> HashSources(const std::vector<std::string>& sources);

  /// HashSources plus the per-file listing (same digest). For the cache-miss explanation the
  /// builder keeps the listing of a step (e.g. as a blob via SerializeFiles, its digest in the
  /// cache record) and compares it with FirstDifference when the key differs.
  Result<SourcesHash> HashSourcesDetailed(const std::vector<std::string>& sources);

  /// Writes the stat cache back (no-op without one).
  Status SaveStatCache();

  /// Totals over every call so far (read when no call is running).
  const HashStats& stats() const { return stats_; }
  int root_fd() const { return root_.get(); }
  /// The .dockerignore matcher (null when there is none or it is empty).
  const IgnoreMatcher* ignore() const { return ignore_; }
  const std::string& dir() const { return dir_; }

 private:
  ContextHasher(std::string dir, UniqueFd root);
  /// Walks and hashes every source (all at once, on every core) into `files`, in order;
  /// `starts` receives where each source's entries begin.
  Status HashTree(const std::vector<std::string>& sources, std::vector<ContextFile>& files,
                  std::vector<size_t>& starts);

  std::string dir_;
  UniqueFd root_;
  const IgnoreMatcher* ignore_ = nullptr;
  std::unique_ptr<StatCache> stat_cache_;
  std::unique_ptr<std::mutex> stats_mu_ = std::make_unique<std::mutex>();  ///< guards stats_ (never held across a wait)
  HashStats stats_;
};

}  // namespace cb::planner
