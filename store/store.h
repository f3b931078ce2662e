// Store: everything under one --root (blobs, metadata, snapshots, images), opened together.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cache/blob_store.h"
#include "cache/lease.h"
#include "cache/metadata_store.h"
#include "common/result.h"
#include "image/image_store.h"
#include "snapshotter/differ.h"
#include "snapshotter/snapshotter.h"

namespace cb::store {

/// One per thread (the SQLite connection is not shared). Several processes may open a root:
/// everything this process reads or makes is added to its lease (cache/lease.h), which prune
/// honours.
class Store {
 public:
  static Result<std::unique_ptr<Store>> Open(const std::string& root);

  const std::string& root() const { return root_; }
  cache::BlobStore& blobs() { return *blobs_; }
  cache::MetadataStore& meta() { return *meta_; }
  snapshotter::Snapshotter& snapshots() { return *snaps_; }
  image::ImageStore& images() { return *images_; }
  cache::Leases& leases() { return *leases_; }

  /// Turns an active snapshot's changes into a layer: the upper dir's tar is streamed through
  /// SHA-256 only (no blob is written: compression is lazy, see EnsureBlob), the layer is
  /// recorded in its uncompressed form (media type ...layer.v1.tar, blob = diff_id, size = tar
  /// size) and the upper dir committed as the layer's snapshot. nullopt when nothing changed
  /// (the step gets an empty_layer history entry instead).
  Result<std::optional<cache::LayerRecord>> CommitLayer(snapshotter::ActiveSnapshot& snap);

  /// The stored blob of layer `diff_id` in `compression`, made on first use and remembered:
  /// recompressed from another stored blob of the layer, else diffed from its snapshot (with
  /// the options it was committed with); the result's diff_id is checked either way.
  /// kNotFound when the layer has neither. Thread-safe (blob writes are atomic, records upserted).
  Result<cache::LayerRecord> EnsureBlob(const Digest& diff_id, snapshotter::Compression compression);

  /// EnsureBlob for several layers, up to min(4, cores) of them at a time (their gzip blocks
  /// share one pool of compression threads, so this bounds memory, not CPU). One result per
  /// entry of `diff_ids`, in order; a layer listed twice is made once. Each result is the
  /// same as EnsureBlob's: the bytes do not depend on the order or the parallelism.
  std::vector<Result<cache::LayerRecord>> EnsureBlobs(const std::vector<Digest>& diff_ids,
                                                      snapshotter::Compression compression);

  /// Makes sure every layer of `img` has an unpacked snapshot, applying blobs where missing.
  Status EnsureSnapshots(const image::Image& img);

  /// `cbuild import`: a root filesystem tar as a one-layer image.
  Result<image::Image> ImportRootfs(const std::string& tar_path);

  /// Diff options for layers made here: gzip, mtimes clamped to SOURCE_DATE_EPOCH or 0.
  static snapshotter::DiffOptions LayerDiffOptions();

 private:
  Store() = default;
  // Layer blob bookkeeping (store/layer_blobs.cc).
  Status RememberLayerSource(const cache::LayerRecord& rec, const snapshotter::DiffOptions& opts);
  Status RecordLayerBlob(const cache::LayerRecord& rec);
  Result<std::optional<cache::LayerRecord>> FindLayerBlob(const Digest& diff_id, const std::string& media_type);

  std::string root_;
  std::unique_ptr<cache::Leases> leases_;  // first in, last out: the stores hold a pointer
  std::unique_ptr<cache::BlobStore> blobs_;
  std::unique_ptr<cache::MetadataStore> meta_;
  std::unique_ptr<snapshotter::Snapshotter> snaps_;
  std::unique_ptr<image::ImageStore> images_;
};

}  // namespace cb::store
