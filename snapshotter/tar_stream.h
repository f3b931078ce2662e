// Private to the tar Applier: a compressed layer stream seen as its uncompressed bytes, hashed
// and counted on the way (diff_id, decompression-bomb cap).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/result.h"
#include "snapshotter/tar_archive.h"

namespace cb::snapshotter::tar {

/// Reads `in_fd` (gzip, zstd, bzip2, xz or plain; detected from the bytes) and serves the
/// uncompressed bytes to a second libarchive reader through ReadCallback. Every byte served is
/// hashed and counted; past `cap` bytes the stream fails. Not thread-safe.
class UncompressedStream {
 public:
  UncompressedStream(int in_fd, int64_t cap);
  UncompressedStream(const UncompressedStream&) = delete;
  UncompressedStream& operator=(const UncompressedStream&) = delete;

  /// Opens the decompressing reader.
  Status Open();
  /// libarchive read callback (client data = this).
  static la_ssize_t ReadCallback(archive* a, void* self, const void** buf);
  /// Reads and hashes whatever follows the tar's end marker.
  Status Drain();
  /// Digest of every byte served; call once, after Drain.
  Digest Finish() { return hash_.Finish(); }

  int64_t bytes() const { return bytes_; }
  bool over_cap() const { return over_cap_; }
  int64_t cap() const { return cap_; }
  /// The decompressor's error, if it failed.
  const std::string& error() const { return error_; }

 private:
  /// libarchive read callback for the compressed input (client data = this).
  static la_ssize_t InputCallback(archive* a, void* self, const void** buf);
  /// Next uncompressed block: size, 0 at the end, -1 on error (see error()).
  la_ssize_t Next(const void** buf);

  int in_fd_;
  int64_t cap_;
  ReaderPtr raw_;
  Sha256 hash_;
  int64_t bytes_ = 0;
  bool over_cap_ = false;
  bool eof_ = false;
  std::string error_;
  std::vector<char> input_;
  int64_t input_bytes_ = 0;
  int input_err_ = 0;
};

}  // namespace cb::snapshotter::tar
