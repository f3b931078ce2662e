#include "cache/lease.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "common/fs.h"

namespace cb::cache {
namespace {

Status Flock(int fd, int op, const std::string& path) {
  while (::flock(fd, op) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK)
      return MakeError(ErrorCode::kExists, "`{}` is in use by another cbuild process", path);
    return ErrnoError(errno, fmt::format("lock `{}`", path));
  }
  return Ok();
}

Result<UniqueFd> OpenLock(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) return ErrnoError(errno, fmt::format("open `{}`", path));
  return fd;
}

}  // namespace

std::vector<Digest> DigestsIn(std::string_view text) {
  std::vector<Digest> out;
  size_t pos = 0;
  while ((pos = text.find("sha256:", pos)) != std::string_view::npos) {
    if (pos + 71 <= text.size())
      if (auto d = Digest::Parse(text.substr(pos, 71))) out.push_back(*d);
    pos += 7;
  }
  return out;
}

Result<std::unique_ptr<Leases>> Leases::Open(const std::string& root) {
  CB_TRY(fs::MakeDirs(root + "/leases"));
  CB_TRY(OpenLock(root + "/lock"));
  return std::unique_ptr<Leases>(new Leases(root));
}

Leases::~Leases() {
  if (lease_fd_) ::unlink(lease_path_.c_str());
}

Result<Leases::Section> Leases::Enter() const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (exclusive_fd_) return Section();
  }
  std::string path = root_ + "/lock";
  UniqueFd fd = CB_TRY(OpenLock(path));
  CB_TRY(Flock(fd.get(), LOCK_SH, path));
  return Section(std::move(fd));
}

bool Leases::Holds(const Digest& d) const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_.count(d) > 0;
}

Status Leases::Add(const std::vector<Digest>& digests) {
  std::vector<Digest> fresh;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& d : digests)
      if (!d.empty() && !held_.count(d)) fresh.push_back(d);
  }
  if (fresh.empty()) return Ok();
  Section s = CB_TRY(Enter());
  std::lock_guard<std::mutex> lock(mu_);
  return AppendLocked(fresh);
}

Status Leases::AppendLocked(const std::vector<Digest>& fresh) {
  if (!lease_fd_) {
    // Made and locked inside a Section: Live() (under the exclusive lock) never sees it unlocked.
    std::string path = root_ + "/leases/" + std::to_string(::getpid()) + "-XXXXXX";
    UniqueFd fd(::mkostemp(path.data(), O_CLOEXEC | O_APPEND));
    if (!fd) return ErrnoError(errno, fmt::format("create a lease in `{}/leases`", root_));
    if (auto st = Flock(fd.get(), LOCK_EX | LOCK_NB, path); !st) {
      ::unlink(path.c_str());
      return st;
    }
    lease_fd_ = std::move(fd);
    lease_path_ = path;
  }
  std::string lines;
  for (const auto& d : fresh)
    if (held_.insert(d).second) lines += d.ToString() + "\n";
  // No fsync: a lease matters only while its process lives.
  for (size_t off = 0; off < lines.size();) {
    ssize_t n = ::write(lease_fd_.get(), lines.data() + off, lines.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, fmt::format("write `{}`", lease_path_));
    off += static_cast<size_t>(n);
  }
  return Ok();
}

Status Leases::LockExclusive(bool wait) {
  std::string path = root_ + "/lock";
  UniqueFd fd = CB_TRY(OpenLock(path));
  CB_TRY(Flock(fd.get(), LOCK_EX | (wait ? 0 : LOCK_NB), path));
  std::lock_guard<std::mutex> lock(mu_);
  exclusive_fd_ = std::move(fd);
  return Ok();
}

void Leases::UnlockExclusive() {
  std::lock_guard<std::mutex> lock(mu_);
  exclusive_fd_.reset();
}

Result<std::set<Digest>> Leases::Live() const {
  std::set<Digest> out;
  std::string dir = root_ + "/leases";
  for (const auto& name : CB_TRY(fs::ListDir(dir))) {
    std::string path = dir + "/" + name;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    struct stat st;
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) {
      // Nobody holds it: its process is gone (a lease being created is locked before it is
      // written, and an empty one protects nothing).
      ::unlink(path.c_str());
      continue;
    }
    std::string text;
    char buf[1 << 14];
    ssize_t n;
    while ((n = ::read(fd.get(), buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
      if (n > 0) text.append(buf, static_cast<size_t>(n));
    for (const auto& d : DigestsIn(text)) out.insert(d);
  }
  return out;
}

}  // namespace cb::cache
