#include "cache/blob_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <vector>

#include "cache/lease.h"
#include "common/fs.h"

namespace cb::cache {

BlobWriter::BlobWriter(std::string blobs_dir, std::string path, UniqueFd fd, Leases* leases)
    : blobs_dir_(std::move(blobs_dir)), path_(std::move(path)), fd_(std::move(fd)), leases_(leases) {}

BlobWriter::~BlobWriter() {
  if (!done_) ::unlink(path_.c_str());
}

Status BlobWriter::Write(std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd_.get(), data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, fmt::format("write `{}`", path_));
    }
    off += static_cast<size_t>(n);
  }
  return Ok();
}

namespace {

/// SHA-256 of an open file from offset 0 (pread: the fd's offset is left alone).
Result<Digest> HashFd(int fd, const std::string& what) {
  Sha256 h;
  std::vector<char> buf(1 << 16);
  for (off_t off = 0;;) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, fmt::format("read {}", what));
    }
    if (n == 0) break;
    h.Update(buf.data(), static_cast<size_t>(n));
    off += n;
  }
  return h.Finish();
}

const char* KindOf(mode_t m) {
  if (S_ISLNK(m)) return "a symbolic link";
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m) || S_ISBLK(m)) return "a device node";
  return "not a regular file";
}

/// Removes whatever is at `path`: a directory as a tree, anything else unlinked (never followed).
Status RemoveAny(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT ? Ok() : ErrnoError(errno, fmt::format("stat `{}`", path));
  if (S_ISDIR(st.st_mode)) return fs::RemoveTree(path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError(errno, fmt::format("remove `{}`", path));
  return Ok();
}

}  // namespace

Status BlobWriter::Commit(const Digest& expected, int64_t expected_size) {
  if (::fsync(fd_.get()) != 0) return ErrnoError(errno, fmt::format("fsync `{}`", path_));
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0) return ErrnoError(errno, fmt::format("stat `{}`", path_));
  if (expected_size >= 0 && st.st_size != expected_size)
    return MakeError(ErrorCode::kCorrupt, "blob {}: size {} does not match the expected {}",
                     expected.ToString(), st.st_size, expected_size);
  Digest got = CB_TRY(HashFd(fd_.get(), fmt::format("`{}`", path_)));
  if (got != expected)
    return MakeError(ErrorCode::kCorrupt, "blob {}: content hashes to {}", expected.ToString(),
                     got.ToString());
  // Leased before it appears: no prune may take it before its user references it.
  if (leases_) CB_TRY(leases_->Add(expected));
  std::string dst = blobs_dir_ + "/" + expected.Hex();
  if (::rename(path_.c_str(), dst.c_str()) != 0) {
    // A directory squatting on the blob's name (a damaged store): remove it, then retry.
    if (errno != EISDIR && errno != ENOTEMPTY && errno != EEXIST)
      return ErrnoError(errno, fmt::format("rename `{}` to `{}`", path_, dst));
    CB_TRY(RemoveAny(dst));
    if (::rename(path_.c_str(), dst.c_str()) != 0)
      return ErrnoError(errno, fmt::format("rename `{}` to `{}`", path_, dst));
  }
  done_ = true;
  fd_.reset();
  return fs::SyncDir(blobs_dir_);
}

namespace {

/// An ingest file "<pid>-<rand>" whose process is gone (or an unnamed one older than a day).
bool IngestIsStale(const std::string& dir, const std::string& name) {
  char* end = nullptr;
  long pid = std::strtol(name.c_str(), &end, 10);
  if (pid > 0 && end && *end == '-') return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
  struct stat st;
  return ::lstat((dir + "/" + name).c_str(), &st) == 0 && st.st_mtime < std::time(nullptr) - 86400;
}

void RemoveStaleIngests(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (IngestIsStale(dir, name)) ::unlink((dir + "/" + name).c_str());
  }
  ::closedir(d);
}

}  // namespace

BlobStore::BlobStore(std::string root) : root_(std::move(root)) {}

Result<std::unique_ptr<BlobStore>> BlobStore::Open(const std::string& root) {
  CB_TRY(fs::MakeDirs(root + "/blobs/sha256"));
  CB_TRY(fs::MakeDirs(root + "/ingest"));
  std::unique_ptr<BlobStore> b(new BlobStore(root));
  RemoveStaleIngests(root + "/ingest");
  return b;
}

Status BlobStore::Lease(const Digest& d) const { return leases_ ? leases_->Add(d) : Ok(); }

Result<std::vector<Digest>> BlobStore::List() const {
  std::vector<Digest> out;
  for (const auto& name : CB_TRY(fs::ListDir(root_ + "/blobs/sha256")))
    if (auto dg = Digest::Parse("sha256:" + name)) out.push_back(*dg);
  return out;
}

std::string BlobStore::PathOf(const Digest& d) const { return root_ + "/blobs/sha256/" + d.Hex(); }

Result<std::unique_ptr<BlobWriter>> BlobStore::NewWriter() {
  std::string path = root_ + "/ingest/" + std::to_string(::getpid()) + "-XXXXXX";
  UniqueFd fd(::mkostemp(path.data(), O_CLOEXEC));
  if (!fd) return ErrnoError(errno, fmt::format("create ingest file in `{}/ingest`", root_));
  ::fchmod(fd.get(), 0644);
  return std::make_unique<BlobWriter>(root_ + "/blobs/sha256", path, std::move(fd), leases_);
}

Result<Digest> BlobStore::Put(std::string_view data) {
  Digest d = Sha256Of(data);
  CB_TRY(Lease(d));
  if (leases_) CB_TRY(leases_->Add(DigestsIn(data)));
  // An existing copy is kept only if it is sound (a corrupt one is removed by the check).
  if (HasVerified(d)) return d;
  auto w = CB_TRY(NewWriter());
  CB_TRY(w->Write(data));
  CB_TRY(w->Commit(d, static_cast<int64_t>(data.size())));
  return d;
}

Error BlobStore::Discard(const Digest& d, std::string_view why, bool remove) const {
  if (!remove) return MakeError(ErrorCode::kCorrupt, "blob {} is corrupt ({})", d.ToString(), why);
  {
    std::lock_guard<std::mutex> lock(verified_mu_);
    verified_.erase(d);
  }
  Status removed = RemoveAny(PathOf(d));
  return MakeError(ErrorCode::kCorrupt, "blob {} is corrupt ({}); {}", d.ToString(), why,
                   removed ? "removed" : "could not remove it: " + removed.error().message);
}

Result<UniqueFd> BlobStore::OpenRegular(const Digest& d, bool remove) const {
  std::string path = PathOf(d);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY));
  struct stat st;
  if (!fd) {
    int err = errno;
    if (err == ENOENT) return MakeError(ErrorCode::kNotFound, "blob {} not found", d.ToString());
    if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) return Discard(d, KindOf(st.st_mode), remove);
    return ErrnoError(err, fmt::format("open blob {}", d.ToString()));
  }
  if (::fstat(fd.get(), &st) != 0) return ErrnoError(errno, fmt::format("stat blob {}", d.ToString()));
  if (!S_ISREG(st.st_mode)) {
    fd.reset();
    return Discard(d, KindOf(st.st_mode), remove);
  }
  // Regular files ignore O_NONBLOCK; clear it anyway so readers see ordinary blocking reads.
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  return fd;
}

Status BlobStore::Check(const Digest& d, int fd, bool memo, bool remove) const {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError(errno, fmt::format("stat blob {}", d.ToString()));
  FileId id{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), static_cast<int64_t>(st.st_size),
            static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec};
  if (memo) {
    std::lock_guard<std::mutex> lock(verified_mu_);
    if (auto it = verified_.find(d); it != verified_.end() && it->second == id) return Ok();
  }
  Digest got = CB_TRY(HashFd(fd, "blob " + d.ToString()));
  if (got != d) return Discard(d, "content hashes to " + got.ToString(), remove);
  std::lock_guard<std::mutex> lock(verified_mu_);
  verified_[d] = id;
  return Ok();
}

Result<std::string> BlobStore::Get(const Digest& d) const {
  // One section for the read and the lease of what the text names: no prune in between.
  std::optional<Leases::Section> section;
  if (leases_) section = CB_TRY(leases_->Enter());
  CB_TRY(Lease(d));
  UniqueFd fd = CB_TRY(OpenRegular(d));
  std::string data;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, fmt::format("read blob {}", d.ToString()));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  if (Sha256Of(data) != d) return Discard(d, "content does not match its digest");
  if (leases_) CB_TRY(leases_->Add(DigestsIn(data)));
  return data;
}

Result<UniqueFd> BlobStore::Open(const Digest& d) const {
  CB_TRY(Lease(d));
  UniqueFd fd = CB_TRY(OpenRegular(d));
  CB_TRY(Check(d, fd.get(), true));
  return fd;
}

Result<UniqueFd> BlobStore::OpenUnverified(const Digest& d) const {
  CB_TRY(Lease(d));
  return OpenRegular(d);
}

Status BlobStore::Verify(const Digest& d, bool remove) const {
  UniqueFd fd = CB_TRY(OpenRegular(d, remove));
  return Check(d, fd.get(), false, remove);
}

bool BlobStore::Has(const Digest& d) const {
  if (!Lease(d)) return false;
  struct stat st;
  if (::lstat(PathOf(d).c_str(), &st) != 0) return false;
  if (S_ISREG(st.st_mode)) return true;
  (void)Discard(d, KindOf(st.st_mode));
  return false;
}

bool BlobStore::HasVerified(const Digest& d) const {
  if (!Lease(d)) return false;
  auto fd = OpenRegular(d);
  return fd && Check(d, fd->get(), true);
}

Result<int64_t> BlobStore::Size(const Digest& d) const {
  struct stat st;
  if (::lstat(PathOf(d).c_str(), &st) != 0) {
    if (errno == ENOENT) return MakeError(ErrorCode::kNotFound, "blob {} not found", d.ToString());
    return ErrnoError(errno, fmt::format("stat blob {}", d.ToString()));
  }
  if (!S_ISREG(st.st_mode)) return Discard(d, KindOf(st.st_mode));
  return static_cast<int64_t>(st.st_size);
}

Status BlobStore::Remove(const Digest& d) {
  {
    std::lock_guard<std::mutex> lock(verified_mu_);
    verified_.erase(d);
  }
  CB_TRY_CTX(RemoveAny(PathOf(d)), "remove blob {}", d.ToString());
  return Ok();
}

}  // namespace cb::cache
