// Removes, after a run, the mount points the sandbox had to create in the writable layer
// (e.g. an empty /etc/resolv.conf in an image without one), so they never reach a layer.
#pragma once

#include <string>
#include <vector>

namespace cb::sandbox::linux_impl {

/// Where a root's writes land and what it is layered on.
struct WritableRoot {
  std::string base;                ///< overlay upperdir, or a bind root's source; "" = none
  std::vector<std::string> lowers; ///< overlay lowerdirs, top first
};

/// WritableRoot of the first mount of a sandbox ("overlay" with upperdir=, or "bind").
WritableRoot WritableRootOf(const std::string& type, const std::string& source,
                            const std::vector<std::string>& options);

/// For each path (as seen inside the root, in creation order), removes it from `root.base`
/// when it is still an empty file or an empty directory; then removes ancestors that the
/// creation copied up into an overlay's upperdir when they are empty, not opaque, and have
/// the same owner and mode as in the lowerdirs. Paths are resolved inside `root.base`
/// without following symlinks. Best effort: failures leave the entry in place.
void RemoveCreatedMountPoints(const WritableRoot& root, const std::vector<std::string>& paths);

}  // namespace cb::sandbox::linux_impl
