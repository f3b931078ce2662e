// Private to the Differ and Recompress: the uncompressed layer tar → gzip, zstd or as is.
#pragma once

#include <memory>

#include "common/result.h"
#include "snapshotter/differ.h"
#include "snapshotter/gzip_writer.h"

namespace cb::snapshotter {

/// A streaming compressor chosen by DiffOptions (compression, level, threads). gzip is the
/// multi-threaded GzipWriter; zstd is libarchive's filter with `threads` workers (its
/// multi-threaded format, the same bytes for any worker count >= 1); none passes bytes through.
/// Either way the output does not depend on the thread count. Not thread-safe.
class LayerCompressor {
 public:
  using Sink = GzipWriter::Sink;
  virtual ~LayerCompressor() = default;
  virtual Status Write(const void* data, size_t n) = 0;
  /// Flushes everything and ends the stream. Call once.
  virtual Status Finish() = 0;

  /// `what` prefixes setup errors (e.g. "diff", "recompress blob sha256:...").
  static Result<std::unique_ptr<LayerCompressor>> Open(const DiffOptions& opts, Sink sink,
                                                       const std::string& what);
};

}  // namespace cb::snapshotter
