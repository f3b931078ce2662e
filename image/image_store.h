// ImageStore: images (manifest + config blobs) and their names in one root.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cache/blob_store.h"
#include "cache/metadata_store.h"
#include "common/result.h"
#include "image/oci.h"
#include "image/reference.h"

namespace cb::image {

struct Image {
  Digest manifest_digest;
  Manifest manifest;
  Digest config_digest;
  ImageConfig config;
  int64_t manifest_size = 0;
};

struct TaggedImage {
  Reference ref;
  Digest manifest_digest;
};

/// Thin layer over BlobStore + MetadataStore; not thread-safe (one per thread).
class ImageStore {
 public:
  ImageStore(cache::BlobStore* blobs, cache::MetadataStore* meta) : blobs_(blobs), meta_(meta) {}

  /// Writes the config and manifest blobs; returns the image (manifest digest = its id).
  Result<Image> Put(const Manifest& manifest_template, const ImageConfig& config);
  /// Loads an image by manifest digest, verifying both blobs.
  Result<Image> Get(const Digest& manifest_digest) const;
  /// A name (normalized like Docker), "sha256:<manifest digest>", or a unique id prefix.
  Result<Image> Resolve(const std::string& ref) const;
  Status Tag(const Reference& ref, const Digest& manifest_digest);
  Result<bool> Untag(const Reference& ref);
  Result<std::vector<TaggedImage>> List() const;

 private:
  cache::BlobStore* blobs_;
  cache::MetadataStore* meta_;
};

}  // namespace cb::image
