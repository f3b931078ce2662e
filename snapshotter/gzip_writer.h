// GzipWriter: a streaming, multi-threaded gzip compressor whose bytes do not depend on the
// thread count (pigz-style: one gzip member made of independently compressed blocks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"

namespace cb::snapshotter {

/// Uncompressed bytes per block. Every block but the last is compressed on its own (primed
/// with the previous block's last 32 KiB as the deflate dictionary, so the ratio stays that of
/// plain gzip) and ends with a sync flush; the final block carries BFINAL. Changing this
/// constant changes every gzip layer digest.
inline constexpr size_t kGzipBlockSize = size_t{1} << 20;

/// One gzip member (RFC 1952) written in order to a sink. The header is fixed (no name, no
/// mtime, OS = Unix, XFL from the level), the trailer holds the CRC-32 (combined from the
/// blocks') and the length mod 2^32. The output depends only on the input bytes, the level
/// and the block size: never on `threads`, on how Write calls split the input, or on the
/// machine (for a given zlib version). Memory is bounded: at most 2 × threads blocks (input
/// plus output) are in flight. Blocks are compressed on a process-wide pool of
/// hardware_concurrency() threads shared by every writer; threads <= 1 compresses on the
/// caller's thread. Not thread-safe (one caller at a time); the sink is called from the
/// caller's thread only.
class GzipWriter {
 public:
  /// Receives compressed bytes in order; an error stops the writer and is returned by the
  /// Write or Finish call that hit it.
  using Sink = std::function<Status(const char* data, size_t n)>;

  /// level: 1..9, or 0 for zlib's default (6).
  GzipWriter(Sink sink, int level, int threads, size_t block_size = kGzipBlockSize);
  ~GzipWriter();
  GzipWriter(const GzipWriter&) = delete;
  GzipWriter& operator=(const GzipWriter&) = delete;

  Status Write(const void* data, size_t n);
  /// Compresses the last (possibly empty) block and writes the trailer. Call once.
  Status Finish();

  struct Block;  // private; defined in gzip_writer.cc

 private:
  Status Submit(bool last);
  Status EmitFront();

  Sink sink_;
  int level_;
  int threads_;
  size_t block_size_;
  std::string cur_;   // input of the block being filled
  std::string dict_;  // last 32 KiB of the previous block
  std::deque<std::shared_ptr<Block>> pending_;  // submitted, not yet written, in order
  uint32_t crc_ = 0;
  uint64_t length_ = 0;
  bool header_written_ = false;
  bool failed_ = false;
};

}  // namespace cb::snapshotter
