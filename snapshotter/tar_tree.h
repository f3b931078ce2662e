// Private to the tar Differ: a directory tree scanned into a sorted list of layer entries.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace cb::snapshotter::tar {

/// What a scanned node becomes in the layer.
enum class NodeKind {
  kPlain,          ///< a file, dir, symlink, fifo or device written as itself
  kWhiteout,       ///< an overlay whiteout (0/0 char device) → `.wh.<name>` entry
  kOpaqueMarker,   ///< synthetic `DIR/.wh..wh..opq` for a dir with trusted.overlay.opaque=y
};

/// One node of the tree, with everything the tar header needs (contents are read later).
struct TreeNode {
  std::string path;  ///< relative to the root, no leading "./", no trailing "/"; the tar name
  NodeKind kind = NodeKind::kPlain;
  mode_t mode = 0;   ///< st_mode (type and permission bits)
  uid_t uid = 0;
  gid_t gid = 0;
  dev_t rdev = 0;
  int64_t size = 0;
  int64_t mtime = 0;  ///< seconds; nanoseconds are dropped
  dev_t dev = 0;
  ino_t ino = 0;
  nlink_t nlink = 0;
  std::string link_target;                                  ///< symlinks only
  std::vector<std::pair<std::string, std::string>> xattrs;  ///< sorted; no trusted.overlay.*
};

/// Walks `root_fd` without following symlinks and returns every node below it (the root itself
/// excluded), whiteouts and opaque markers already translated, sorted by path in byte order.
/// Errors name the path (relative to `root_name`).
Result<std::vector<TreeNode>> ScanTree(int root_fd, const std::string& root_name);

}  // namespace cb::snapshotter::tar
