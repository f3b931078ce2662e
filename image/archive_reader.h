// ArchiveReader: `cbuild load` — an OCI archive or a docker-archive, read in one streaming
// pass into the store's ingest area, verified, and committed only when everything checks out.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cache/blob_store.h"
#include "common/result.h"
#include "image/image_store.h"
#include "image/reference.h"

namespace cb::image {

/// One image found in an archive, with the names the archive gives it.
struct ArchiveImage {
  Image image;
  std::vector<Reference> names;
};

/// The verified contents of an archive whose blobs are still in ingest files (not visible in
/// the store). Destroying it without Commit drops them.
class StagedArchive {
 public:
  StagedArchive();
  ~StagedArchive();
  StagedArchive(StagedArchive&&) noexcept;
  StagedArchive& operator=(StagedArchive&&) noexcept;

  const std::string& format() const { return format_; }  ///< "oci" or "docker"
  const std::vector<ArchiveImage>& images() const { return images_; }
  /// Moves every blob the images use into the store; returns those that were not there before
  /// (so a caller whose later step fails can remove them again).
  Result<std::vector<Digest>> Commit(cache::BlobStore& blobs);

 private:
  friend Result<StagedArchive> ReadArchive(cache::BlobStore& blobs, const std::string& path);
  struct Impl;
  std::string format_;
  std::vector<ArchiveImage> images_;
  std::unique_ptr<Impl> impl_;
};

/// Reads `path` ("-" = stdin): an OCI image layout in a tar (index.json; nested indexes pick
/// linux/amd64) or a docker-archive (manifest.json; layers plain or compressed, symlinked
/// duplicates allowed). Checks every blob's digest and size against what references it, and
/// the diff_ids of uncompressed layers (compressed ones are checked when unpacked). Entry names
/// with `..` or absolute paths are refused. Errors name the entry, digest or file.
Result<StagedArchive> ReadArchive(cache::BlobStore& blobs, const std::string& path);

}  // namespace cb::image
