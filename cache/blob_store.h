// BlobStore: content-addressed blobs under <root>/blobs/sha256/<hex>.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace cb::cache {

/// A blob being written: an ingest file under <root>/ingest. Commit checks digest and size,
/// fsyncs and renames it into place; destruction without Commit deletes it.
class BlobWriter {
 public:
  BlobWriter(std::string blobs_dir, std::string path, UniqueFd fd);
  ~BlobWriter();
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

  /// The ingest fd, for writers that want to write themselves (then Commit with the digest
  /// they computed); Write() keeps a running digest of what passes through it.
  int fd() const { return fd_.get(); }
  Status Write(std::string_view data);

  /// Verifies the bytes on disk hash to `expected` (and have `expected_size` when >= 0), then
  /// moves the blob into place. If the blob already exists the ingest is dropped.
  Status Commit(const Digest& expected, int64_t expected_size = -1);

 private:
  std::string blobs_dir_, path_;
  UniqueFd fd_;
  bool done_ = false;
};

/// Thread-safe; several processes may share one root (ingest names are unique, renames atomic).
///
/// Liveness: every open BlobStore holds a shared flock on <root>/lock for its lifetime, so every
/// cbuild process using a root (build, run, save, ...) is visible; garbage collection converts it
/// to an exclusive lock (LockExclusive) and so never deletes what a running process uses. The
/// kernel drops the lock when a process dies, even by SIGKILL: no stale locks.
class BlobStore {
 public:
  /// Opens (creating when missing) <root>/blobs and <root>/ingest, takes the shared root lock,
  /// and removes ingest files left by dead processes (ingest files are named "<pid>-<random>").
  static Result<std::unique_ptr<BlobStore>> Open(const std::string& root);

  /// Converts this process's shared root lock to an exclusive one: waits until no other process
  /// uses the root. With `wait` false, returns kExists at once when another process holds it.
  Status LockExclusive(bool wait);
  /// Back to the shared lock.
  Status LockShared();

  /// Stores bytes; returns their digest.
  Result<Digest> Put(std::string_view data);
  /// Starts a streaming write.
  Result<std::unique_ptr<BlobWriter>> NewWriter();
  /// Whole blob, verified against its digest (kCorrupt: the blob is removed).
  Result<std::string> Get(const Digest& d) const;
  /// Opens a blob for streaming reads, after checking its content against its digest
  /// (kCorrupt naming the digest: the blob is removed, never handed out).
  Result<UniqueFd> Open(const Digest& d) const;
  /// Opens without the check, for readers that hash what they read themselves.
  Result<UniqueFd> OpenUnverified(const Digest& d) const;
  /// Every stored blob's digest (unordered).
  Result<std::vector<Digest>> List() const;
  /// Re-hashes a stored blob; a mismatch removes it and returns kCorrupt naming the digest.
  Status Verify(const Digest& d) const;
  bool Has(const Digest& d) const;
  Result<int64_t> Size(const Digest& d) const;
  std::string PathOf(const Digest& d) const;
  Status Remove(const Digest& d);

 private:
  explicit BlobStore(std::string root);
  std::string root_;
  UniqueFd lock_fd_;
};

}  // namespace cb::cache
