// Which repositories a blob is known to be in, so a push can mount it instead of uploading it.
// Kept as records in the MetadataStore's cache table, under a key derived from the blob digest.
#pragma once

#include <string>
#include <vector>

#include "cache/metadata_store.h"
#include "common/digest.h"

namespace cb::registry {

/// Repositories ("domain/path") that held `blob` when it was last pulled or pushed.
std::vector<std::string> BlobSources(cache::MetadataStore& meta, const Digest& blob);

/// Adds `repository` to the blob's sources (at most 8 kept, newest first). Best effort.
void AddBlobSource(cache::MetadataStore& meta, const Digest& blob, const std::string& repository);

}  // namespace cb::registry
