// Recompress: a layer blob in one compression → the same tar in another, without unpacking it.
#pragma once

#include "common/result.h"
#include "snapshotter/differ.h"

namespace cb::snapshotter {

/// Reads a layer blob from `in_fd` (gzip, zstd, bzip2, xz or plain, detected from the bytes)
/// and writes the same uncompressed tar, compressed as `opts.compression` (level, threads;
/// clamp_mtime is ignored: entries are not rewritten), to `out_fd`. The gzip and zstd settings
/// are the Differ's, so recompressing a Differ blob gives exactly the blob the Differ would
/// have written with `opts`. The result's diff_id is the sha256 of the uncompressed bytes;
/// the caller compares it with the diff_id it expects. Errors name `what` (e.g. the digest).
Result<LayerBlob> Recompress(int in_fd, int out_fd, const DiffOptions& opts, const std::string& what);

}  // namespace cb::snapshotter
