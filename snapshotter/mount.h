// A mount described as data. Snapshotters return these; only sandbox/linux/ performs them,
// inside a sandbox's private mount namespace.
#pragma once

#include <string>
#include <vector>

namespace cb::snapshotter {

struct Mount {
  std::string type;                  ///< "overlay", "bind", "tmpfs", ...
  std::string source;                ///< "overlay", a host path for bind, ...
  std::string target;                ///< path inside the container root ("/" = the root itself)
  std::vector<std::string> options;  ///< "lowerdir=a:b", "upperdir=..", "workdir=..", "ro", "rbind"
};

}  // namespace cb::snapshotter
