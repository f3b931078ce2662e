#include "executor/copy_op.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/rooted.h"
#include "common/unique_fd.h"

namespace cb::executor {
namespace {

Status CopyData(int in, int out, const std::string& what) {
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(in, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, fmt::format("read `{}`", what));
    }
    if (n == 0) return Ok();
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(out, buf + off, static_cast<size_t>(n - off));
      if (w < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(errno, fmt::format("write `{}`", what));
      }
      off += w;
    }
  }
}

/// Removes whatever non-directory sits at dir/name so a new entry can take its place.
void ClearSlot(int dir_fd, const std::string& name) {
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
    ::unlinkat(dir_fd, name.c_str(), 0);
}

Status WriteFile(int src_fd, const struct stat& st, int dir_fd, const std::string& name,
                 const std::string& what, unsigned uid, unsigned gid) {
  ClearSlot(dir_fd, name);
  UniqueFd out(::openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) return ErrnoError(errno, fmt::format("create `{}`", what));
  CB_TRY(CopyData(src_fd, out.get(), what));
  if (::fchown(out.get(), uid, gid) != 0) return ErrnoError(errno, fmt::format("chown `{}`", what));
  if (::fchmod(out.get(), st.st_mode & 07777) != 0) return ErrnoError(errno, fmt::format("chmod `{}`", what));
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  ::futimens(out.get(), ts);
  return Ok();
}

/// Copies one entry found below a source directory into the directory `dst_dir_fd`.
Status CopyEntry(const rooted::WalkEntry& e, int root_fd, const std::string& dest_base,
                 unsigned uid, unsigned gid) {
  std::string target = dest_base + "/" + e.rel;
  std::string parent = target.substr(0, target.rfind('/'));
  UniqueFd dir = CB_TRY(rooted::Open(root_fd, parent, O_RDONLY | O_DIRECTORY));
  const char* name = e.name.c_str();
  if (S_ISDIR(e.st.st_mode)) {
    ClearSlot(dir.get(), e.name);
    if (::mkdirat(dir.get(), name, 0700) != 0 && errno != EEXIST)
      return ErrnoError(errno, fmt::format("mkdir `{}`", target));
    ::fchownat(dir.get(), name, uid, gid, AT_SYMLINK_NOFOLLOW);
    if (::fchmodat(dir.get(), name, e.st.st_mode & 07777, 0) != 0)
      return ErrnoError(errno, fmt::format("chmod `{}`", target));
  } else if (S_ISREG(e.st.st_mode)) {
    UniqueFd in(::openat(e.parent_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!in) return ErrnoError(errno, fmt::format("open `{}`", e.rel));
    CB_TRY(WriteFile(in.get(), e.st, dir.get(), e.name, target, uid, gid));
  } else if (S_ISLNK(e.st.st_mode)) {
    char buf[4096];
    ssize_t n = ::readlinkat(e.parent_fd, name, buf, sizeof buf - 1);
    if (n < 0) return ErrnoError(errno, fmt::format("readlink `{}`", e.rel));
    buf[n] = '\0';
    ClearSlot(dir.get(), e.name);
    if (::symlinkat(buf, dir.get(), name) != 0) return ErrnoError(errno, fmt::format("symlink `{}`", target));
    ::fchownat(dir.get(), name, uid, gid, AT_SYMLINK_NOFOLLOW);
  }
  // Sockets, FIFOs and devices in a build context are skipped, as BuildKit does.
  return Ok();
}

bool IsDirInRoot(int root_fd, const std::string& path) {
  auto fd = rooted::Open(root_fd, path, O_RDONLY | O_DIRECTORY);
  return fd.has_value();
}

}  // namespace

Status CopyFromContext(const CopyRequest& req, int root_fd) {
  bool dest_dir = req.dest_is_dir || req.sources.size() > 1 || IsDirInRoot(root_fd, req.dest);
  for (const auto& src : req.sources) {
    auto in = rooted::Open(req.context_fd, src, O_RDONLY);
    if (!in) {
      if (in.error().code == ErrorCode::kNotFound)
        return MakeError(ErrorCode::kNotFound, "source `{}` not found in build context", src);
      return std::move(in).error();
    }
    struct stat st;
    if (::fstat(in->get(), &st) != 0) return ErrnoError(errno, fmt::format("stat `{}`", src));
    if (S_ISDIR(st.st_mode)) {
      CB_TRY(rooted::MkdirAll(root_fd, req.dest, 0755, req.uid, req.gid));
      CB_TRY(rooted::Walk(in->get(), [&](const rooted::WalkEntry& e) {
        return CopyEntry(e, root_fd, req.dest == "/" ? "" : req.dest, req.uid, req.gid);
      }));
      continue;
    }
    std::string target = req.dest;
    if (dest_dir) {
      std::string s = src;
      while (s.size() > 1 && s.back() == '/') s.pop_back();
      std::string base = s.substr(s.find_last_of('/') + 1);
      target = (req.dest == "/" ? "" : req.dest) + "/" + base;
    }
    size_t slash = target.rfind('/');
    std::string parent = slash == 0 ? "/" : target.substr(0, slash);
    UniqueFd dir = CB_TRY(rooted::MkdirAll(root_fd, parent, 0755, 0, 0));
    CB_TRY(WriteFile(in->get(), st, dir.get(), target.substr(slash + 1), target, req.uid, req.gid));
  }
  return Ok();
}

}  // namespace cb::executor
