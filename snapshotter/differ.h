// Differ: a directory (an overlay upperdir or a plain new layer) → a compressed OCI layer tar.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/digest.h"
#include "common/result.h"

namespace cb::snapshotter {

enum class Compression { kNone, kGzip, kZstd };

/// OCI media type for a layer with this compression
/// ("application/vnd.oci.image.layer.v1.tar+gzip", ...).
const char* LayerMediaType(Compression c);

struct DiffOptions {
  Compression compression = Compression::kGzip;
  /// Timestamps newer than this (seconds since the epoch) are clamped to it in the tar headers.
  /// Reproducible builds set it to SOURCE_DATE_EPOCH, else 0.
  std::optional<int64_t> clamp_mtime;
  /// Compression threads: gzip blocks (GzipWriter, on a process-wide pool) or zstd workers.
  /// Any value gives the same bytes (gzip: fixed block size; zstd: its multi-threaded format
  /// with at least one worker), so this only trades CPU for speed.
  int threads = 1;
  /// Compression level; 0 = the filter's default (gzip 6, zstd 3).
  int level = 0;
};

struct LayerBlob {
  Digest diff_id;       ///< sha256 of the uncompressed tar
  Digest digest;        ///< sha256 of the bytes written to out_fd
  int64_t size = 0;     ///< number of bytes written to out_fd
  std::string media_type;
};

/// Writes a layer tar of a directory tree. Entries are sorted by path (byte order), so the same
/// tree gives the same bytes. Overlay whiteouts in the tree (0/0 char devices, the
/// trusted.overlay.opaque="y" xattr) become `.wh.<name>` and `.wh..wh..opq` entries.
/// Owners are numeric (uid/gid, no uname/gname); the gzip header carries no name and no time.
/// Streaming: memory does not grow with file sizes. Thread-compatible (one Diff per object at a time).
class Differ {
 public:
  virtual ~Differ() = default;
  /// Tar of `dir` written to `out_fd` (not closed); with `out_fd` -1 nothing is written and
  /// only the digests and size are computed. Errors name the offending path.
  virtual Result<LayerBlob> Diff(const std::string& dir, int out_fd, const DiffOptions& opts) = 0;
};

std::unique_ptr<Differ> NewTarDiffer();

}  // namespace cb::snapshotter
