// Path operations confined to a directory tree that a build controls (context, rootfs, layer).
// Paths are resolved inside the root with openat2(RESOLVE_IN_ROOT): "..", absolute symlinks and
// absolute paths all stay inside it. Never "resolve a string, then act on it".
#pragma once

#include <sys/stat.h>

#include <functional>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace cb::rooted {

/// Opens a directory by host path (trusted) as a root for the calls below.
Result<UniqueFd> OpenRoot(const std::string& host_path);

/// openat2(root_fd, rel, flags, mode, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS). `rel` may start
/// with '/', meaning the root. kNotFound when a component is missing.
Result<UniqueFd> Open(int root_fd, const std::string& rel, int flags, unsigned mode = 0);

/// Like Open, but does not follow a symlink in the last component (O_PATH|O_NOFOLLOW).
Result<UniqueFd> OpenNoFollow(int root_fd, const std::string& rel);

/// mkdir -p inside the root; new directories get `mode` and owner uid:gid. Returns the last
/// directory opened O_DIRECTORY. An existing non-directory component is kExists.
Result<UniqueFd> MkdirAll(int root_fd, const std::string& rel, unsigned mode, unsigned uid, unsigned gid);

/// One entry seen by Walk: path relative to the walked dir ("a/b"), lstat of it, and the
/// directory fd that contains it (valid during the callback only).
struct WalkEntry {
  std::string rel;
  std::string name;
  struct stat st;
  int parent_fd;
};

/// Depth-first walk below `dir_fd` in byte-sorted name order, never following symlinks.
/// The callback returns an error to stop.
Status Walk(int dir_fd, const std::function<Status(const WalkEntry&)>& fn);

}  // namespace cb::rooted
