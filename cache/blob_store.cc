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

#include "common/fs.h"

namespace cb::cache {

BlobWriter::BlobWriter(std::string blobs_dir, std::string path, UniqueFd fd)
    : blobs_dir_(std::move(blobs_dir)), path_(std::move(path)), fd_(std::move(fd)) {}

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

Status BlobWriter::Commit(const Digest& expected, int64_t expected_size) {
  if (::fsync(fd_.get()) != 0) return ErrnoError(errno, fmt::format("fsync `{}`", path_));
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0) return ErrnoError(errno, fmt::format("stat `{}`", path_));
  if (expected_size >= 0 && st.st_size != expected_size)
    return MakeError(ErrorCode::kCorrupt, "blob {}: size {} does not match the expected {}",
                     expected.ToString(), st.st_size, expected_size);
  Digest got = CB_TRY(Sha256OfFile(path_));
  if (got != expected)
    return MakeError(ErrorCode::kCorrupt, "blob {}: content hashes to {}", expected.ToString(),
                     got.ToString());
  std::string dst = blobs_dir_ + "/" + expected.Hex();
  if (::rename(path_.c_str(), dst.c_str()) != 0)
    return ErrnoError(errno, fmt::format("rename `{}` to `{}`", path_, dst));
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

Status Flock(int fd, int op, const std::string& path) {
  while (::flock(fd, op) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK)
      return MakeError(ErrorCode::kExists, "`{}` is in use by another cbuild process", path);
    return ErrnoError(errno, fmt::format("lock `{}`", path));
  }
  return Ok();
}

}  // namespace

BlobStore::BlobStore(std::string root) : root_(std::move(root)) {}

Result<std::unique_ptr<BlobStore>> BlobStore::Open(const std::string& root) {
  CB_TRY(fs::MakeDirs(root + "/blobs/sha256"));
  CB_TRY(fs::MakeDirs(root + "/ingest"));
  std::unique_ptr<BlobStore> b(new BlobStore(root));
  std::string lock = root + "/lock";
  b->lock_fd_ = UniqueFd(::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!b->lock_fd_) return ErrnoError(errno, fmt::format("open `{}`", lock));
  CB_TRY(Flock(b->lock_fd_.get(), LOCK_SH, lock));
  RemoveStaleIngests(root + "/ingest");
  return b;
}

Status BlobStore::LockExclusive(bool wait) {
  return Flock(lock_fd_.get(), LOCK_EX | (wait ? 0 : LOCK_NB), root_ + "/lock");
}

Status BlobStore::LockShared() { return Flock(lock_fd_.get(), LOCK_SH, root_ + "/lock"); }

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
  return std::make_unique<BlobWriter>(root_ + "/blobs/sha256", path, std::move(fd));
}

Result<Digest> BlobStore::Put(std::string_view data) {
  Digest d = Sha256Of(data);
  if (Has(d)) return d;
  auto w = CB_TRY(NewWriter());
  CB_TRY(w->Write(data));
  CB_TRY(w->Commit(d, static_cast<int64_t>(data.size())));
  return d;
}

Result<std::string> BlobStore::Get(const Digest& d) const {
  auto data = fs::ReadFile(PathOf(d));
  if (!data) {
    Error e = std::move(data).error();
    if (e.code == ErrorCode::kNotFound) e.message = fmt::format("blob {} not found", d.ToString());
    return e;
  }
  if (Sha256Of(*data) != d) {
    ::unlink(PathOf(d).c_str());
    return MakeError(ErrorCode::kCorrupt, "blob {} is corrupt (content does not match its digest); removed",
                     d.ToString());
  }
  return data;
}

Result<UniqueFd> BlobStore::Open(const Digest& d) const {
  if (!Has(d)) return MakeError(ErrorCode::kNotFound, "blob {} not found", d.ToString());
  CB_TRY(Verify(d));
  return OpenUnverified(d);
}

Result<UniqueFd> BlobStore::OpenUnverified(const Digest& d) const {
  UniqueFd fd(::open(PathOf(d).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    Error e = ErrnoError(errno, fmt::format("open blob {}", d.ToString()));
    if (errno == ENOENT) e.code = ErrorCode::kNotFound;
    return e;
  }
  return fd;
}

Status BlobStore::Verify(const Digest& d) const {
  Digest got = CB_TRY(Sha256OfFile(PathOf(d)));
  if (got != d) {
    ::unlink(PathOf(d).c_str());
    return MakeError(ErrorCode::kCorrupt, "blob {} is corrupt (content hashes to {}); removed",
                     d.ToString(), got.ToString());
  }
  return Ok();
}

bool BlobStore::Has(const Digest& d) const { return fs::Exists(PathOf(d)); }

Result<int64_t> BlobStore::Size(const Digest& d) const {
  struct stat st;
  if (::stat(PathOf(d).c_str(), &st) != 0) return ErrnoError(errno, fmt::format("stat blob {}", d.ToString()));
  return static_cast<int64_t>(st.st_size);
}

Status BlobStore::Remove(const Digest& d) {
  if (::unlink(PathOf(d).c_str()) != 0 && errno != ENOENT)
    return ErrnoError(errno, fmt::format("remove blob {}", d.ToString()));
  return Ok();
}

}  // namespace cb::cache
