// COPY from the build context into a mounted root filesystem, without a sandbox.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "planner/dockerignore.h"

namespace cb::executor {

/// The previous build of the same COPY (same instruction, same layers below, same sources),
/// whose committed layer holds the files that have not changed since: those are hard-linked
/// from it instead of copied (see LinkUnchanged).
struct CopyReuse {
  std::string prev_dir;         ///< that build's layer directory (its upper dir, committed)
  std::set<std::string> same;   ///< context paths (as the hasher lists them) with the same mode and content
};

struct CopyRequest {
  int context_fd = -1;               ///< the source root: build context, or another stage's rootfs
  std::vector<std::string> sources;  ///< paths in that root, wildcards already expanded (planner::ExpandSources)
  std::string dest;                  ///< absolute path inside the image
  bool dest_is_dir = false;          ///< dest ended in '/' (or several sources)
  unsigned uid = 0, gid = 0;         ///< owner of everything written
  std::optional<unsigned> chmod;     ///< --chmod: mode of every file and directory written
  /// --exclude patterns, matched against paths below a source directory (relative to it) with
  /// the .dockerignore rules (`**`, `!` exceptions; an excluded directory excludes its contents).
  std::vector<std::string> excludes;
  bool parents = false;              ///< --parents: keep each source's path under dest
  bool add = false;                  ///< ADD: local tar archives are extracted into dest
  /// .dockerignore of the build context (may be null; not owned): paths below a source
  /// directory that it excludes (relative to the context) are skipped.
  const planner::IgnoreMatcher* ignore = nullptr;
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
  /// Set: regular files below a source directory whose context path is in `reuse->same` are
  /// not written through the mount but left in CopyPlan::pending for LinkUnchanged.
  const CopyReuse* reuse = nullptr;
  /// Told about each source entry that is skipped (a socket), with a message naming it.
  std::function<void(const std::string&)> warn;
};

/// What CopyFromContext left for after the mount: files to link from the previous build.
struct CopyPlan {
  struct Pending {
    std::string source;  ///< context path
    struct stat st;      ///< the source's lstat (size, mode, mtime)
  };
  std::map<std::string, Pending> pending;  ///< by target path in the image ("/app/a.txt")
  std::string plain_dir;                   ///< last directory checked to be clean and symlink-free
  int64_t linked = 0, copied = 0;          ///< filled in by LinkUnchanged
};

/// write(2) until all of `data` is written; errors name `what`.
Status WriteAll(int fd, std::string_view data, const std::string& what);

/// Docker's rules: a directory source copies its contents into dest; a file source goes to
/// dest, or dest/<name> when dest is a directory (trailing '/', several sources, or an existing
/// directory). Both sides are resolved inside their roots; symlinks below a source are copied
/// as symlinks. Modes and mtimes are kept, owners set to uid:gid. Special files are never opened:
/// FIFOs and device nodes are made anew (mknod, same type and device numbers, as BuildKit),
/// sockets are skipped with a warning (req.warn). A regular file is read from one descriptor
/// that was checked to be a regular file first.
/// With `plan`, files eligible for reuse (req.reuse) are only recorded there; their parent
/// directories are made part of the new layer (copied up) as writing them would.
Status CopyFromContext(const CopyRequest& req, int root_fd, CopyPlan* plan = nullptr);

/// Second half of a COPY with reuse, after the overlay is unmounted: each pending file is
/// hard-linked from req.reuse->prev_dir into the layer's upper dir `upper_fd` at its target
/// path, when the previous file is a regular file with the size, mode, owner and mtime this
/// COPY would give it; otherwise it is copied from the source as usual. Parent directories
/// must exist in the upper dir as real directories (no symlinks); if not, an error (the caller
/// then runs the step again without reuse).
Status LinkUnchanged(const CopyRequest& req, CopyPlan& plan, int upper_fd);

}  // namespace cb::executor
