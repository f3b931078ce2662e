// Snapshotter: layer directories (one per diff_id) stacked with overlayfs.
//
// Layout under <root>:
//   snapshots/<diff_id hex>/   a committed layer, in overlayfs format (whiteouts as 0/0 char
//                              devices, opaque dirs by xattr); read-only by convention
//   snapshots/_empty/          an empty lower for images without layers (FROM scratch)
//   active/<pid>-<rand>/       an active snapshot: upper/, work/, rootfs/ (mount point)
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cache/gc.h"
#include "common/digest.h"
#include "common/result.h"
#include "snapshotter/mount.h"

namespace cb::snapshotter {

class Snapshotter;

/// A writable layer on top of committed parents. Removed on destruction unless committed.
class ActiveSnapshot {
 public:
  ~ActiveSnapshot();
  ActiveSnapshot(const ActiveSnapshot&) = delete;
  ActiveSnapshot& operator=(const ActiveSnapshot&) = delete;

  const std::string& upper() const { return upper_; }
  /// An empty directory to mount the merged view on.
  const std::string& rootfs() const { return rootfs_; }
  /// The overlay mount (target "/") of the parents with upper() on top.
  Mount RootMount() const;

 private:
  friend class Snapshotter;
  ActiveSnapshot() = default;
  std::string dir_, upper_, work_, rootfs_;
  std::vector<std::string> lowers_;  // top first
  bool committed_ = false;
};

/// Thread-safe. Several processes may share one root.
class Snapshotter {
 public:
  /// Opens <root>/snapshots and <root>/active, removing active snapshots whose process is gone.
  static Result<std::unique_ptr<Snapshotter>> Open(const std::string& root);

  /// A new writable snapshot over `parents` (diff_ids, bottom layer first), which must exist.
  Result<std::unique_ptr<ActiveSnapshot>> Prepare(const std::vector<Digest>& parents);
  /// Moves the snapshot's upper dir into place as layer `diff_id`. If that layer already
  /// exists (same content built elsewhere), the new copy is dropped.
  Status Commit(ActiveSnapshot& snap, const Digest& diff_id);
  bool HasLayer(const Digest& diff_id) const;
  std::string LayerPath(const Digest& diff_id) const;
  /// Every committed layer snapshot.
  Result<std::vector<Digest>> ListLayers() const;
  /// Deletes a layer snapshot: renamed out of snapshots/ first (atomic), then removed, so a
  /// crash halfway leaves a trash dir (_trash/<pid>-…, swept by the next Open once that
  /// process is gone), never a half layer. Missing is fine.
  Status RemoveLayer(const Digest& diff_id);
  /// Space used by a directory tree (allocated blocks), not following links: files with one
  /// link in `own`, files with several (shared with other layers) listed in `shared`.
  struct Usage {
    int64_t own = 0;
    std::vector<cache::SharedFile> shared;
  };
  static Usage DiskUsage(const std::string& path);

  /// A read-only overlay mount of `layers` (bottom first), for viewing a whole image.
  Result<Mount> View(const std::vector<Digest>& layers) const;

 private:
  explicit Snapshotter(std::string root) : root_(std::move(root)) {}
  Result<std::vector<std::string>> LowerDirs(const std::vector<Digest>& layers) const;
  std::string root_;
};

}  // namespace cb::snapshotter
