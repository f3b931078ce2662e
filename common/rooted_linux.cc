#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "common/rooted.h"

namespace cb::rooted {
namespace {

int Openat2(int dirfd, const char* path, int flags, unsigned mode, uint64_t resolve) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC;
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = resolve;
  int fd;
  do {
    fd = static_cast<int>(::syscall(SYS_openat2, dirfd, path, &how, sizeof how));
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  return fd;
}

constexpr uint64_t kInRoot = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

std::string Rel(const std::string& rel) {
  size_t i = rel.find_first_not_of('/');
  return i == std::string::npos ? "." : rel.substr(i);
}

Error OpenError(int err, const std::string& rel) {
  Error e = ErrnoError(err, fmt::format("open `{}`", rel.empty() ? "/" : rel));
  if (err == ENOENT) e.code = ErrorCode::kNotFound;
  return e;
}

}  // namespace

Result<UniqueFd> OpenRoot(const std::string& host_path) {
  UniqueFd fd(::open(host_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    Error e = ErrnoError(errno, fmt::format("open `{}`", host_path));
    if (errno == ENOENT) e.code = ErrorCode::kNotFound;
    return e;
  }
  return fd;
}

Result<UniqueFd> Open(int root_fd, const std::string& rel, int flags, unsigned mode) {
  int fd = Openat2(root_fd, Rel(rel).c_str(), flags, mode, kInRoot);
  if (fd < 0) return OpenError(errno, rel);
  return UniqueFd(fd);
}

Result<UniqueFd> OpenNoFollow(int root_fd, const std::string& rel) {
  int fd = Openat2(root_fd, Rel(rel).c_str(), O_PATH | O_NOFOLLOW, 0, kInRoot);
  if (fd < 0) return OpenError(errno, rel);
  return UniqueFd(fd);
}

Result<UniqueFd> MkdirAll(int root_fd, const std::string& rel, unsigned mode, unsigned uid, unsigned gid) {
  UniqueFd cur(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
  if (!cur) return ErrnoError(errno, "dup root fd");
  std::string r = Rel(rel);
  std::string done;
  size_t i = 0;
  while (i < r.size()) {
    size_t j = r.find('/', i);
    if (j == std::string::npos) j = r.size();
    std::string comp = r.substr(i, j - i);
    i = j + 1;
    if (comp.empty() || comp == ".") continue;
    done += "/" + comp;
    // Resolve from the root each time so a symlinked component stays inside the root.
    int fd = Openat2(root_fd, done.c_str() + 1, O_RDONLY | O_DIRECTORY, 0, kInRoot);
    if (fd < 0 && errno == ENOENT) {
      if (::mkdirat(cur.get(), comp.c_str(), mode) != 0 && errno != EEXIST)
        return ErrnoError(errno, fmt::format("mkdir `{}`", done));
      ::fchownat(cur.get(), comp.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW);
      ::fchmodat(cur.get(), comp.c_str(), mode, 0);
      fd = Openat2(root_fd, done.c_str() + 1, O_RDONLY | O_DIRECTORY, 0, kInRoot);
    }
    if (fd < 0) {
      if (errno == ENOTDIR) return MakeError(ErrorCode::kExists, "`{}` exists and is not a directory", done);
      return ErrnoError(errno, fmt::format("open `{}`", done));
    }
    cur.reset(fd);
  }
  return cur;
}

const char* FileTypeName(unsigned mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFLNK: return "a symlink";
    case S_IFIFO: return "a named pipe";
    case S_IFSOCK: return "a socket";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    default: return "a file of unknown type";
  }
}

Result<UniqueFd> Reopen(int path_fd, const struct stat& st, const std::string& what) {
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
    return MakeError(ErrorCode::kInvalidArgument, "`{}` is {}, not a regular file", what, FileTypeName(st.st_mode));
  // Through the descriptor's magic link: exactly the inode that was checked, whatever has been
  // renamed over the path since.
  int flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0);
  std::string self = fmt::format("/proc/self/fd/{}", path_fd);
  UniqueFd fd(::open(self.c_str(), flags));
  if (!fd) return ErrnoError(errno, fmt::format("open `{}`", what));
  struct stat again;
  if (::fstat(fd.get(), &again) != 0) return ErrnoError(errno, fmt::format("stat `{}`", what));
  if (again.st_ino != st.st_ino || again.st_dev != st.st_dev)
    return MakeError(ErrorCode::kFailed, "`{}` changed while it was opened", what);
  return fd;
}

Result<UniqueFd> OpenForRead(int root_fd, const std::string& rel, struct stat* st) {
  int fd = Openat2(root_fd, Rel(rel).c_str(), O_PATH, 0, kInRoot);
  if (fd < 0) return OpenError(errno, rel);
  UniqueFd path(fd);
  if (::fstat(path.get(), st) != 0) return ErrnoError(errno, fmt::format("stat `{}`", rel));
  if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode)) return path;
  return Reopen(path.get(), *st, rel.empty() ? "/" : rel);
}

Result<std::string> ReadRegularFile(int root_fd, const std::string& rel, size_t max_bytes) {
  struct stat st;
  UniqueFd fd = CB_TRY(OpenForRead(root_fd, rel, &st));
  if (!S_ISREG(st.st_mode))
    return MakeError(ErrorCode::kInvalidArgument, "`{}` is {}, not a regular file", rel, FileTypeName(st.st_mode));
  auto too_large = [&] {
    return MakeError(ErrorCode::kInvalidArgument, "`{}` is larger than {} bytes", rel, max_bytes);
  };
  if (static_cast<uint64_t>(st.st_size) > max_bytes) return too_large();
  std::string out;
  out.resize(std::min<size_t>(static_cast<size_t>(st.st_size), max_bytes) + 1);
  size_t got = 0;
  for (;;) {
    if (got == out.size()) {
      if (got > max_bytes) return too_large();  // grew since the stat
      out.resize(std::min(out.size() * 2, max_bytes + 1));
    }
    ssize_t n = ::read(fd.get(), out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, fmt::format("read `{}`", rel));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > max_bytes) return too_large();
  out.resize(got);
  return out;
}

namespace {

Status WalkDir(int dir_fd, const std::string& prefix, const std::function<Result<bool>(const WalkEntry&)>& fn) {
  int dup = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return ErrnoError(errno, "dup directory fd");
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    ::close(dup);
    return ErrnoError(errno, fmt::format("opendir `{}`", prefix.empty() ? "." : prefix));
  }
  ::rewinddir(d);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    WalkEntry we;
    we.name = n;
    we.rel = prefix.empty() ? n : prefix + "/" + n;
    we.parent_fd = dir_fd;
    if (::fstatat(dir_fd, n.c_str(), &we.st, AT_SYMLINK_NOFOLLOW) != 0)
      return ErrnoError(errno, fmt::format("stat `{}`", we.rel));
    bool descend = CB_TRY(fn(we));
    if (descend && S_ISDIR(we.st.st_mode)) {
      UniqueFd sub(::openat(dir_fd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) return ErrnoError(errno, fmt::format("open `{}`", we.rel));
      CB_TRY(WalkDir(sub.get(), we.rel, fn));
    }
  }
  return Ok();
}

}  // namespace

Status Walk(int dir_fd, const std::function<Status(const WalkEntry&)>& fn) {
  return WalkDir(dir_fd, "", [&](const WalkEntry& e) -> Result<bool> {
    CB_TRY(fn(e));
    return true;
  });
}

Status WalkSelect(int dir_fd, const std::function<Result<bool>(const WalkEntry&)>& fn) { return WalkDir(dir_fd, "", fn); }

}  // namespace cb::rooted
