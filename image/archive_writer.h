// ArchiveWriter: the tar writer behind `save` and `--output` (OCI archive, docker-archive).
// Deterministic: pax headers, mode 0644/0755, mtime 0, owner 0, entries in call order.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "cache/blob_store.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace cb::image {

class ArchiveWriter {
 public:
  /// Writes to `path` through a temp file renamed by Finish (so `path` never holds a partial
  /// archive); "-" writes to stdout.
  static Result<std::unique_ptr<ArchiveWriter>> Create(const std::string& path);
  ~ArchiveWriter();

  Status Dir(const std::string& name);
  Status File(const std::string& name, std::string_view data);
  /// Streams stored blob `d` as entry `name`, checking it still hashes to `d`.
  Status Blob(const cache::BlobStore& blobs, const Digest& d, const std::string& name);
  /// Ends the tar, fsyncs and renames into place.
  Status Finish();

 private:
  ArchiveWriter() = default;
  Status Header(const std::string& name, unsigned mode, int64_t size);
  Status Data(const void* p, size_t n);
  Error Err(const std::string& what);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cb::image
