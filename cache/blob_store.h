// BlobStore: content-addressed blobs under <root>/blobs/sha256/<hex>.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

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
class BlobStore {
 public:
  /// Opens (creating when missing) <root>/blobs and <root>/ingest.
  static Result<std::unique_ptr<BlobStore>> Open(const std::string& root);

  /// Stores bytes; returns their digest.
  Result<Digest> Put(std::string_view data);
  /// Starts a streaming write.
  Result<std::unique_ptr<BlobWriter>> NewWriter();
  /// Whole blob, verified against its digest (kCorrupt: the blob is removed).
  Result<std::string> Get(const Digest& d) const;
  /// Opens a blob for streaming reads (not verified here; readers that hash it check it).
  Result<UniqueFd> Open(const Digest& d) const;
  /// Re-hashes a stored blob; a mismatch removes it and returns kCorrupt naming the digest.
  Status Verify(const Digest& d) const;
  bool Has(const Digest& d) const;
  Result<int64_t> Size(const Digest& d) const;
  std::string PathOf(const Digest& d) const;
  Status Remove(const Digest& d);

 private:
  explicit BlobStore(std::string root);
  std::string root_;
};

}  // namespace cb::cache
