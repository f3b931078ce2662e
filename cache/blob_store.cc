#include "cache/blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

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

BlobStore::BlobStore(std::string root) : root_(std::move(root)) {}

Result<std::unique_ptr<BlobStore>> BlobStore::Open(const std::string& root) {
  CB_TRY(fs::MakeDirs(root + "/blobs/sha256"));
  CB_TRY(fs::MakeDirs(root + "/ingest"));
  return std::unique_ptr<BlobStore>(new BlobStore(root));
}

std::string BlobStore::PathOf(const Digest& d) const { return root_ + "/blobs/sha256/" + d.Hex(); }

Result<std::unique_ptr<BlobWriter>> BlobStore::NewWriter() {
  std::string path = root_ + "/ingest/blob-XXXXXX";
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
