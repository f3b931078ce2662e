// Mount option strings ("ro", "nosuid", "lowerdir=...") split into flags and fs data.
#pragma once

#include <string>
#include <vector>

namespace cb::sandbox::linux_impl {

struct MountOptions {
  unsigned long flags = 0;       ///< MS_* flags for mount(2)
  unsigned attr_flags = 0;       ///< the same as MOUNT_ATTR_* for fsmount/mount_setattr
  bool bind = false;             ///< "bind" or "rbind"
  bool recursive = false;        ///< "rbind"
  bool read_only = false;        ///< "ro"
  std::vector<std::string> data; ///< fs-specific options, in order
  std::string joined;            ///< `data` joined with ',' (mount(2)'s data argument)
};

/// Splits options; unknown words are fs-specific data. Propagation words (private, rprivate,
/// slave, shared...) are ignored: every sandbox mount is private.
MountOptions ParseMountOptions(const std::vector<std::string>& options);

/// fsconfig(2) options packed as "k=v\0flag\0...\0" (with "source=`source`" when non-empty).
std::string PackFsConfig(const std::vector<std::string>& data, const std::string& source);

}  // namespace cb::sandbox::linux_impl
