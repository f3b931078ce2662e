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

/// How messages name a file type: "a regular file", "a named pipe", "a character device", ...
const char* FileTypeName(unsigned mode);

/// Opens `rel` inside the root (symlinks followed, inside the root) without ever opening a FIFO,
/// socket or device: the path is resolved with O_PATH and fstat'ed into `*st` first; a regular
/// file or directory is then reopened through that descriptor (the same inode: no race with a
/// rename) for reading, O_NONBLOCK|O_NOCTTY. Anything else comes back as the O_PATH descriptor,
/// good for fstat and *at calls only: the caller looks at `st->st_mode`.
Result<UniqueFd> OpenForRead(int root_fd, const std::string& rel, struct stat* st);

/// Reopens an O_PATH descriptor of a regular file or directory for reading (as OpenForRead);
/// `what` names it in errors.
Result<UniqueFd> Reopen(int path_fd, const struct stat& st, const std::string& what);

/// The content of a small regular file inside the root (a file of the image, e.g. /etc/passwd,
/// read on the host). kNotFound when missing; anything but a regular file (FIFO, device,
/// socket, directory) or a file larger than `max_bytes` is an error naming `rel`, returned
/// without reading (a FIFO is never waited on, a device never read).
Result<std::string> ReadRegularFile(int root_fd, const std::string& rel, size_t max_bytes);

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

/// Walk where the callback also says whether to walk below a directory entry (false: its
/// subtree is skipped; ignored for other entries).
Status WalkSelect(int dir_fd, const std::function<Result<bool>(const WalkEntry&)>& fn);

}  // namespace cb::rooted
