// Applier: a layer tar (compressed or not) → files in a target directory, rooted in it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/digest.h"
#include "common/result.h"

namespace cb::snapshotter {

struct ApplyOptions {
  /// If set, the sha256 of the uncompressed tar must equal this, else kCorrupt.
  std::optional<Digest> expected_diff_id;
  /// Cap on uncompressed bytes (decompression bombs): exceeding it is an error.
  int64_t max_uncompressed_bytes = int64_t{64} << 30;
  /// Convert `.wh.` entries into overlayfs whiteouts (0/0 char device, opaque xattr)
  /// instead of deleting; used when the target is one layer of an overlay stack.
  bool overlay_whiteouts = true;
};

struct ApplyResult {
  Digest diff_id;                 ///< sha256 of the uncompressed tar stream
  int64_t uncompressed_bytes = 0;
};

/// Unpacks a tar stream into `target_dir` (which must exist). Gzip, zstd, bzip2, xz or plain
/// are detected from the bytes. Never writes outside `target_dir`: absolute paths and `..` are
/// resolved inside it or rejected, symlinks in the tree are never followed out of it.
/// On error the caller removes the partial target.
class Applier {
 public:
  virtual ~Applier() = default;
  virtual Result<ApplyResult> Apply(int in_fd, const std::string& target_dir,
                                    const ApplyOptions& opts) = 0;
};

std::unique_ptr<Applier> NewTarApplier();

}  // namespace cb::snapshotter
