#include "planner/context_hasher.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/rooted.h"

namespace cb::planner {
namespace {

Result<Digest> HashFd(int fd, const std::string& what) {
  Sha256 h;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, fmt::format("read `{}`", what));
    }
    if (n == 0) break;
    h.Update(buf, static_cast<size_t>(n));
  }
  return h.Finish();
}

/// Appends one entry's record: "<rel>\0<type><mode>\0<content digest|link target>\n".
Status AddEntry(Sha256& h, int parent_fd, const std::string& name, const std::string& rel,
                const struct stat& st) {
  std::string rec = rel;
  rec.push_back('\0');
  rec += fmt::format("{:o}", st.st_mode);
  rec.push_back('\0');
  if (S_ISREG(st.st_mode)) {
    UniqueFd fd(::openat(parent_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return ErrnoError(errno, fmt::format("open `{}`", rel));
    rec += CB_TRY(HashFd(fd.get(), rel)).ToString();
  } else if (S_ISLNK(st.st_mode)) {
    char buf[4096];
    ssize_t n = ::readlinkat(parent_fd, name.c_str(), buf, sizeof buf);
    if (n < 0) return ErrnoError(errno, fmt::format("readlink `{}`", rel));
    rec.append(buf, static_cast<size_t>(n));
  }
  rec.push_back('\n');
  h.Update(rec);
  return Ok();
}

}  // namespace

Result<ContextHasher> ContextHasher::Open(const std::string& context_dir) {
  UniqueFd root = CB_TRY_CTX(rooted::OpenRoot(context_dir), "build context");
  return ContextHasher(context_dir, std::move(root));
}

Result<Digest> ContextHasher::HashSources(const std::vector<std::string>& sources) {
  Sha256 h;
  for (const auto& src : sources) {
    h.Update("source\0", 7);
    h.Update(src);
    h.Update("\n", 1);
    // The source itself is resolved inside the context, following symlinks (as BuildKit
    // follows the named source); below it, nothing is followed.
    auto fd = rooted::Open(root_.get(), src, O_RDONLY);
    if (!fd) {
      if (fd.error().code == ErrorCode::kNotFound)
        return MakeError(ErrorCode::kNotFound, "source `{}` not found in build context", src);
      return std::move(fd).error();
    }
    struct stat st;
    if (::fstat(fd->get(), &st) != 0) return ErrnoError(errno, fmt::format("stat `{}`", src));
    if (S_ISDIR(st.st_mode)) {
      h.Update(fmt::format("dir {:o}\n", st.st_mode));
      CB_TRY(rooted::Walk(fd->get(), [&](const rooted::WalkEntry& e) -> Status {
        return AddEntry(h, e.parent_fd, e.name, e.rel, e.st);
      }));
    } else {
      h.Update(fmt::format("file {:o}\n", st.st_mode));
      h.Update(CB_TRY(HashFd(fd->get(), src)).ToString());
    }
  }
  return h.Finish();
}

}  // namespace cb::planner
