// BlobStore: content-addressed blobs under <root>/blobs/sha256/<hex>.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace cb::cache {

/// A blob being written: an ingest file under <root>/ingest. Commit checks digest and size,
/// fsyncs and renames it into place; destruction without Commit deletes it.
class Leases;

class BlobWriter {
 public:
  BlobWriter(std::string blobs_dir, std::string path, UniqueFd fd, Leases* leases = nullptr);
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
  Leases* leases_;
  bool done_ = false;
};

/// Thread-safe; several processes may share one root (ingest names are unique, renames atomic).
///
/// Leases (cache/lease.h): with set_leases, every blob this process reads, checks or writes is
/// added to the process's lease before it is looked at, and a blob read whole (Get) also
/// leases the digests its text names (a manifest its config and layers, a config its
/// diff_ids), so that a concurrent prune never removes what this process uses.
///
/// A damaged store: a blob path is only ever opened with O_NOFOLLOW|O_NONBLOCK and looked at with
/// lstat, never through a link, and never blocks on a FIFO. Whatever is at a blob path that is
/// not a regular file whose bytes hash to its name (a symlink, a directory, a FIFO, wrong bytes)
/// is corrupt: the call that meets it removes it and answers as for a missing blob (Has: false)
/// or with kCorrupt naming the digest (Get, Open, Verify), so that the caller can remake it.
///
/// Liveness: every open BlobStore holds a shared flock on <root>/lock for its lifetime, so every
/// cbuild process using a root (build, run, save, ...) is visible; garbage collection converts it
/// to an exclusive lock (LockExclusive) and so never deletes what a running process uses. The
/// kernel drops the lock when a process dies, even by SIGKILL: no stale locks.
class BlobStore {
 public:
  /// Opens (creating when missing) <root>/blobs and <root>/ingest and removes ingest files
  /// left by dead processes (ingest files are named "<pid>-<random>").
  static Result<std::unique_ptr<BlobStore>> Open(const std::string& root);
  /// The lease every blob this process touches is added to (owned by the caller; may be null).
  void set_leases(Leases* leases) { leases_ = leases; }

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
  /// Every stored blob's digest (unordered); names that are no digest are left out.
  Result<std::vector<Digest>> List() const;
  /// Re-hashes a stored blob (always: no memo); a mismatch returns kCorrupt naming the digest
  /// and what is wrong, and removes the blob unless `remove` is false (`system check` without
  /// --repair only reports).
  Status Verify(const Digest& d, bool remove = true) const;
  /// A regular file is at the blob's path (its content is checked when it is read).
  bool Has(const Digest& d) const;
  /// A sound copy is stored: a regular file whose content hashes to `d` (hashed once per
  /// process and file, later Opens of the same file are not hashed again). A corrupt copy is
  /// removed (false), so that the caller remakes or re-fetches it.
  bool HasVerified(const Digest& d) const;
  /// The blob's size (lstat); kNotFound when absent, kCorrupt (removed) when not a regular file.
  Result<int64_t> Size(const Digest& d) const;
  std::string PathOf(const Digest& d) const;
  /// Removes whatever is at the blob's path (a directory too); missing is fine.
  Status Remove(const Digest& d);

 private:
  /// The blob opened without following links or blocking: kNotFound, or kCorrupt (removed)
  /// when it is not a regular file.
  Result<UniqueFd> OpenRegular(const Digest& d, bool remove = true) const;
  /// Removes a corrupt blob (unless `remove` is false) and returns the kCorrupt error that says so.
  Error Discard(const Digest& d, std::string_view why, bool remove = true) const;
  /// Hashes the open blob from its start and compares; kCorrupt (removed) on a mismatch.
  /// `memo`: skip the hash when this process already verified this very file (same inode,
  /// size and change time — blobs are never modified in place, only replaced).
  Status Check(const Digest& d, int fd, bool memo, bool remove = true) const;

  explicit BlobStore(std::string root);
  /// Adds to the lease (no-op without one); failures are the caller's to report.
  Status Lease(const Digest& d) const;

  std::string root_;
  Leases* leases_ = nullptr;
  struct FileId {
    uint64_t dev, ino;
    int64_t size, ctime_ns;
    bool operator==(const FileId&) const = default;
  };
  mutable std::mutex verified_mu_;
  mutable std::map<Digest, FileId> verified_;
};

}  // namespace cb::cache
