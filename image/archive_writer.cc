#include "image/archive_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace cb::image {

struct ArchiveWriter::Impl {
  archive* a = nullptr;
  std::string path, tmp;
  UniqueFd fd;
  bool finished = false;
  ~Impl() {
    if (a) archive_write_free(a);
    if (!finished && !tmp.empty()) ::unlink(tmp.c_str());
  }
};

Result<std::unique_ptr<ArchiveWriter>> ArchiveWriter::Create(const std::string& path) {
  std::unique_ptr<ArchiveWriter> w(new ArchiveWriter());
  w->impl_ = std::make_unique<Impl>();
  Impl& i = *w->impl_;
  i.path = path;
  if (path == "-") {
    i.fd = UniqueFd(::fcntl(1, F_DUPFD_CLOEXEC, 3));
    if (!i.fd) return ErrnoError(errno, "dup stdout");
  } else {
    i.tmp = path + ".tmp-XXXXXX";
    i.fd = UniqueFd(::mkostemp(i.tmp.data(), O_CLOEXEC));
    if (!i.fd) {
      int e = errno;
      i.tmp.clear();
      return ErrnoError(e, fmt::format("create `{}`", path + ".tmp-XXXXXX"));
    }
  }
  i.a = archive_write_new();
  archive_write_set_format_pax_restricted(i.a);
  archive_write_set_bytes_in_last_block(i.a, 1);
  if (archive_write_open_fd(i.a, i.fd.get()) != ARCHIVE_OK) return w->Err("open");
  return w;
}

ArchiveWriter::~ArchiveWriter() = default;

Status ArchiveWriter::Dir(const std::string& name) { return Header(name, AE_IFDIR | 0755, 0); }

Status ArchiveWriter::File(const std::string& name, std::string_view data) {
  CB_TRY(Header(name, AE_IFREG | 0644, static_cast<int64_t>(data.size())));
  return Data(data.data(), data.size());
}

Status ArchiveWriter::Blob(const cache::BlobStore& blobs, const Digest& d, const std::string& name) {
  UniqueFd fd = CB_TRY(blobs.Open(d));
  int64_t size = CB_TRY(blobs.Size(d));
  CB_TRY(Header(name, AE_IFREG | 0644, size));
  Sha256 h;
  std::unique_ptr<char[]> buf(new char[1 << 20]);
  int64_t done = 0;
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.get(), 1 << 20);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, fmt::format("read blob {}", d.ToString()));
    if (n == 0) break;
    done += n;
    h.Update(buf.get(), static_cast<size_t>(n));
    CB_TRY(Data(buf.get(), static_cast<size_t>(n)));
  }
  if (done != size || h.Finish() != d)
    return MakeError(ErrorCode::kCorrupt, "blob {} is corrupt (content does not match its digest)", d.ToString());
  return Ok();
}

Status ArchiveWriter::Finish() {
  Impl& i = *impl_;
  if (archive_write_close(i.a) != ARCHIVE_OK) return Err("finish");
  if (i.tmp.empty()) {
    i.finished = true;
    return Ok();
  }
  if (::fsync(i.fd.get()) != 0) return ErrnoError(errno, fmt::format("fsync `{}`", i.tmp));
  ::fchmod(i.fd.get(), 0644);
  if (::rename(i.tmp.c_str(), i.path.c_str()) != 0) return ErrnoError(errno, fmt::format("rename to `{}`", i.path));
  i.finished = true;
  return Ok();
}

Status ArchiveWriter::Header(const std::string& name, unsigned mode, int64_t size) {
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, name.c_str());
  archive_entry_set_mode(e, mode);
  archive_entry_set_size(e, size);
  archive_entry_set_mtime(e, 0, 0);
  int r = archive_write_header(impl_->a, e);
  archive_entry_free(e);
  if (r != ARCHIVE_OK) return Err("write " + name);
  return Ok();
}

Status ArchiveWriter::Data(const void* p, size_t n) {
  if (archive_write_data(impl_->a, p, n) != static_cast<la_ssize_t>(n)) return Err("write data");
  return Ok();
}

Error ArchiveWriter::Err(const std::string& what) {
  const char* msg = archive_error_string(impl_->a);
  return MakeError(ErrorCode::kIo, "{} `{}`: {}", what, impl_->path, msg ? msg : "unknown error");
}

}  // namespace cb::image
