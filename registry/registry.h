// Pull and push images between a registry and the local store; login.
#pragma once

#include <string>
#include <vector>

#include "cache/blob_store.h"
#include "cache/metadata_store.h"
#include "common/result.h"
#include "image/image_store.h"
#include "image/reference.h"
#include "registry/options.h"
#include "registry/transfer_progress.h"

namespace cb::registry {

/// The local stores an image moves between (not owned; used on the calling thread, except the
/// thread-safe BlobStore, which transfer threads share).
struct Stores {
  cache::BlobStore& blobs;
  cache::MetadataStore& meta;
  image::ImageStore& images;
};

/// Pulls `ref` (tag or digest) into the store: manifest (OCI or Docker schema2; from an index
/// the opts.platform entry), config and every missing layer, downloaded concurrently with
/// retries, each checked for size and digest. Nothing is stored unless every blob verified;
/// a tag reference is then tagged. Layers already present are not downloaded again.
Result<image::Image> Pull(const image::Reference& ref, const Stores& stores, const RegistryOptions& opts,
                          TransferProgress& progress);

/// Pushes the local image `local` as `dest`: each blob HEADed first, mounted from another
/// repository of the same registry when one is known to hold it, else uploaded (one PUT, or
/// chunks when opts.chunk_size > 0); the manifest last. Returns the manifest digest.
Result<Digest> Push(const image::Image& local, const image::Reference& dest, const Stores& stores,
                    const RegistryOptions& opts, TransferProgress& progress);

/// Checks `username`/`password` against `registry` (a domain or host[:port]) with the auth flow
/// a pull would use, then stores them in opts.docker_config (or ~/.docker/config.json).
Status Login(const std::string& registry, const std::string& username, const std::string& password,
             const RegistryOptions& opts);

/// The store's image for `name`; when it is not there, pulls it as `docker run` and `FROM` do,
/// telling `progress` (null: a terminal renderer on stderr). Registry options come from the
/// registries config file.
Result<image::Image> ResolveOrPull(const std::string& name, const Stores& stores,
                                   TransferProgress* progress = nullptr);

}  // namespace cb::registry
