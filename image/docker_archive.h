// Image export as a docker-archive (what `docker save` writes and `docker load` / `podman
// load` read): manifest.json, repositories, the config as <hex>.json, each layer as
// <blob hex>/layer.tar.
#pragma once

#include <string>
#include <vector>

#include "cache/blob_store.h"
#include "common/result.h"
#include "image/image_store.h"
#include "image/reference.h"

namespace cb::image {

/// Writes `img` as a docker-archive at `path` ("-" = stdout). The layer files are the stored
/// layer blobs as they are (plain tar, gzip or zstd: `docker load` detects the compression).
/// RepoTags lists `names` in Docker's short form. Deterministic; written to a temp file and
/// renamed; blobs are verified on the way.
Status WriteDockerArchive(const cache::BlobStore& blobs, const Image& img, const std::vector<Reference>& names,
                          const std::string& path);

}  // namespace cb::image
