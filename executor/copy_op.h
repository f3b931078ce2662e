// COPY from the build context into a mounted root filesystem, without a sandbox.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace cb::executor {

struct CopyRequest {
  int context_fd = -1;               ///< the source root: build context, or another stage's rootfs
  std::vector<std::string> sources;  ///< paths in that root, wildcards already expanded
  std::string dest;                  ///< absolute path inside the image
  bool dest_is_dir = false;          ///< dest ended in '/' (or several sources)
  unsigned uid = 0, gid = 0;         ///< owner of everything written
  std::optional<unsigned> chmod;     ///< --chmod: mode of every file and directory written
  std::vector<std::string> excludes; ///< --exclude patterns, matched against paths below a source
  bool parents = false;              ///< --parents: keep each source's path under dest
  bool add = false;                  ///< ADD: local tar archives are extracted into dest
  /// When set, paths below the source root (relative to it, '/'-separated) for which it returns
  /// true are skipped (.dockerignore).
  std::function<bool(const std::string&)> ignored;
  /// Heredoc sources: (file name, content).
  std::vector<std::pair<std::string, std::string>> inline_files;
  /// ADD <url>: the entries of `sources` that are URLs, already downloaded. Written as
  /// `name` (dest/<name> when dest is a directory) with mode 0600 (or --chmod) and `mtime`;
  /// never extracted.
  struct RemoteFile {
    std::string path;  ///< the downloaded content on the host
    std::string name;  ///< the file name taken from the URL
    int64_t mtime = 0;
  };
  std::map<std::string, RemoteFile> remote;
};

/// write(2) until all of `data` is written; errors name `what`.
Status WriteAll(int fd, std::string_view data, const std::string& what);

/// Expands a source pattern (`*`, `?`, `[...]` per path component, as Go's filepath.Match)
/// inside `root_fd`; a pattern without wildcards is returned as is. No match is kNotFound.
Result<std::vector<std::string>> ExpandSourcePattern(int root_fd, const std::string& pattern);

/// Docker's rules: a directory source copies its contents into dest; a file source goes to
/// dest, or dest/<name> when dest is a directory (trailing '/', several sources, or an existing
/// directory). Both sides are resolved inside their roots; symlinks below a source are copied
/// as symlinks. Modes and mtimes are kept, owners set to uid:gid.
Status CopyFromContext(const CopyRequest& req, int root_fd);

}  // namespace cb::executor
