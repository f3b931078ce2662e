// USER / --chown names resolved by reading the image's /etc/passwd and /etc/group as data —
// never through the host's name service.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace cb::executor {

struct Identity {
  unsigned uid = 0, gid = 0;
  std::vector<unsigned> extra_gids;  ///< supplementary groups listing the user
  std::string home = "/";
};

/// Resolves "user[:group]" (names or numeric ids) inside the root filesystem `root_fd`.
/// A numeric user without a group takes its primary group from /etc/passwd when listed, else
/// gid = uid's group 0... as Docker: gid 0. Unknown names are kNotFound naming the file.
Result<Identity> ResolveUser(int root_fd, const std::string& spec);

/// Same for --chown (no supplementary groups; a group name alone is not allowed).
Result<Identity> ResolveChown(int root_fd, const std::string& spec);

}  // namespace cb::executor
