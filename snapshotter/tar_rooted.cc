#include "snapshotter/tar_rooted.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace cb::snapshotter::tar {
namespace {

int OpenAt2(int dir_fd, const std::string& path, uint64_t flags, uint64_t resolve) {
  struct open_how how = {};
  how.flags = flags;
  how.resolve = resolve;
  for (;;) {
    long fd = ::syscall(SYS_openat2, dir_fd, path.empty() ? "." : path.c_str(), &how, sizeof how);
    if (fd < 0 && errno == EAGAIN) continue;  // a concurrent rename: retry
    return static_cast<int>(fd);
  }
}

constexpr uint64_t kDirFlags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
constexpr uint64_t kInRoot = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

}  // namespace

Result<UniqueFd> OpenDirInRoot(int root_fd, const std::vector<std::string>& comps, size_t n,
                               bool create) {
  UniqueFd fd(OpenAt2(root_fd, path::Join(comps, n), kDirFlags, kInRoot));
  if (fd || errno != ENOENT || !create) {
    if (fd) return fd;
    Error e = ErrnoError(errno, fmt::format("open directory `{}`", path::Join(comps, n)));
    if (errno == ENOENT) e.code = ErrorCode::kNotFound;
    return e;
  }
  // Slow path: walk from the root, making what is missing. Each step is resolved in the root
  // again, so a symlink met on the way still cannot lead outside.
  UniqueFd cur(OpenAt2(root_fd, "", kDirFlags, kInRoot));
  if (!cur) return ErrnoError(errno, "open root");
  for (size_t i = 0; i < n; ++i) {
    std::string prefix = path::Join(comps, i + 1);
    UniqueFd next(OpenAt2(root_fd, prefix, kDirFlags, kInRoot));
    if (!next && errno == ENOENT) {
      if (::mkdirat(cur.get(), comps[i].c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoError(errno, fmt::format("mkdir `{}`", prefix));
      }
      next.reset(OpenAt2(root_fd, prefix, kDirFlags, kInRoot));
    }
    if (!next) return ErrnoError(errno, fmt::format("open directory `{}`", prefix));
    cur = std::move(next);
  }
  return cur;
}

int OpenInRoot(int root_fd, const std::string& rel, int flags) {
  return OpenAt2(root_fd, rel, static_cast<uint64_t>(flags) | O_CLOEXEC, kInRoot);
}

Result<UniqueFd> OpenDirNoSymlinks(int root_fd, const std::vector<std::string>& comps, size_t n) {
  UniqueFd fd(OpenAt2(root_fd, path::Join(comps, n), kDirFlags,
                      RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS));
  if (!fd && errno == ELOOP) {
    return MakeError(ErrorCode::kInvalidArgument, "`{}` goes through a symlink",
                     path::Join(comps, n));
  }
  if (!fd) return ErrnoError(errno, fmt::format("open directory `{}`", path::Join(comps, n)));
  return fd;
}

Result<std::vector<std::string>> ListDir(int dir_fd) {
  int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open directory");
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    int err = errno;
    ::close(fd);
    return ErrnoError(err, "read directory");
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* de = ::readdir(d)) {
    std::string_view n(de->d_name);
    if (n != "." && n != "..") names.emplace_back(n);
    errno = 0;
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return ErrnoError(err, "read directory");
  return names;
}

Status RemoveAt(int dir_fd, const std::string& name) {
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Ok();
    return ErrnoError(errno, fmt::format("stat `{}`", name));
  }
  if (S_ISDIR(st.st_mode)) {
    UniqueFd sub(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) return ErrnoError(errno, fmt::format("open `{}`", name));
    CB_TRY(RemoveChildren(sub.get(), [](const std::string&) { return false; }));
  }
  if (::unlinkat(dir_fd, name.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0 &&
      errno != ENOENT) {
    return ErrnoError(errno, fmt::format("remove `{}`", name));
  }
  return Ok();
}

std::string ProcPath(int dir_fd, const std::string& name) {
  return fmt::format("/proc/self/fd/{}/{}", dir_fd, name);
}

}  // namespace cb::snapshotter::tar
