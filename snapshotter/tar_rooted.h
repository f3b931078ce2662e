// Private to the tar Applier: confining tar entry paths to the target directory.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/path.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace cb::snapshotter::tar {

// Entry names are split with path::SplitBelowRoot (absolute names read relative to the root,
// a ".." above the root is an error) and joined back with path::Join.

/// Opens directory `rel` (components [0, n)) of the tree rooted at `root_fd` with
/// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): symlinks on the way are followed but can
/// never leave the root (an absolute or "../.." target is resolved inside it, as in a chroot).
/// With `create`, missing directories are made (mode 0755, owner root).
/// Returns an O_RDONLY|O_DIRECTORY fd; kNotFound when missing and !create.
Result<UniqueFd> OpenDirInRoot(int root_fd, const std::vector<std::string>& comps, size_t n,
                               bool create);

/// openat2(root_fd, rel, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS); -1 with errno set.
int OpenInRoot(int root_fd, const std::string& rel, int flags);

/// Opens directory components [0, n) beneath the root refusing any symlink on the way
/// (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS); used for hard link targets.
Result<UniqueFd> OpenDirNoSymlinks(int root_fd, const std::vector<std::string>& comps, size_t n);

/// Removes `name` in `dir_fd` (recursively for a directory) without following symlinks.
/// A missing name is not an error.
Status RemoveAt(int dir_fd, const std::string& name);

/// Removes every child of `dir_fd` for which `keep(name)` is false.
template <typename Keep>
Status RemoveChildren(int dir_fd, Keep keep);

/// Names in the directory `dir_fd` (not "." or "..").
Result<std::vector<std::string>> ListDir(int dir_fd);

/// "/proc/self/fd/<dir_fd>/<name>": lets l*xattr act on `name` inside an open directory.
std::string ProcPath(int dir_fd, const std::string& name);

template <typename Keep>
Status RemoveChildren(int dir_fd, Keep keep) {
  std::vector<std::string> names = CB_TRY(ListDir(dir_fd));
  for (const std::string& n : names) {
    if (!keep(n)) CB_TRY(RemoveAt(dir_fd, n));
  }
  return Ok();
}

}  // namespace cb::snapshotter::tar
