// COPY from the build context into a mounted root filesystem, without a sandbox.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace cb::executor {

struct CopyRequest {
  int context_fd = -1;               ///< the build context root (rooted::OpenRoot)
  std::vector<std::string> sources;  ///< context-relative paths, as written
  std::string dest;                  ///< absolute path inside the image
  bool dest_is_dir = false;          ///< dest ended in '/' (or several sources)
  unsigned uid = 0, gid = 0;         ///< owner of everything written
};

/// Docker's rules: a directory source copies its contents into dest; a file source goes to
/// dest, or dest/<name> when dest is a directory (trailing '/', several sources, or an existing
/// directory). Both sides are resolved inside their roots; symlinks below a source are copied
/// as symlinks. Modes and mtimes are kept, owners set to uid:gid.
Status CopyFromContext(const CopyRequest& req, int root_fd);

}  // namespace cb::executor
