// Image export: an OCI image layout (image-spec 1.1) packed in a tar ("oci-archive").
#pragma once

#include <string>
#include <vector>

#include "cache/blob_store.h"
#include "common/result.h"
#include "image/image_store.h"
#include "image/reference.h"

namespace cb::image {

/// Writes `img` (manifest, config, every layer blob) as an OCI archive at `path`. The index
/// names it with each of `names` (org.opencontainers.image.ref.name = tag,
/// io.containerd.image.name = full name). Deterministic: same image, same bytes. Written to a
/// temp file and renamed, so `path` never holds a partial archive. Blobs are verified on the way.
Status WriteOciArchive(const cache::BlobStore& blobs, const Image& img, const std::vector<Reference>& names,
                       const std::string& path);

}  // namespace cb::image
