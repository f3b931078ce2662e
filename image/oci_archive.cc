#include "image/oci_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <set>

#include "common/fs.h"
#include "common/unique_fd.h"

namespace cb::image {
namespace {

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

class TarWriter {
 public:
  explicit TarWriter(std::string what) : a_(archive_write_new()), what_(std::move(what)) {
    archive_write_set_format_pax_restricted(a_.get());
  }
  Status Open(int fd) {
    if (archive_write_open_fd(a_.get(), fd) != ARCHIVE_OK) return Err("open");
    return Ok();
  }
  Status Dir(const std::string& name) { return Header(name, AE_IFDIR | 0755, 0); }
  Status File(const std::string& name, std::string_view data) {
    CB_TRY(Header(name, AE_IFREG | 0644, static_cast<int64_t>(data.size())));
    return Data(data.data(), data.size());
  }
  /// Streams a blob, checking it still hashes to its digest.
  Status Blob(const cache::BlobStore& blobs, const Digest& d) {
    UniqueFd fd = CB_TRY(blobs.Open(d));
    int64_t size = CB_TRY(blobs.Size(d));
    CB_TRY(Header("blobs/sha256/" + d.Hex(), AE_IFREG | 0644, size));
    Sha256 h;
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoError(errno, fmt::format("read blob {}", d.ToString()));
      if (n == 0) break;
      h.Update(buf, static_cast<size_t>(n));
      CB_TRY(Data(buf, static_cast<size_t>(n)));
    }
    if (h.Finish() != d) return MakeError(ErrorCode::kCorrupt, "blob {} is corrupt (content does not match its digest)", d.ToString());
    return Ok();
  }
  Status Close() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) return Err("finish");
    return Ok();
  }

 private:
  Status Header(const std::string& name, unsigned mode, int64_t size) {
    std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_mode(e.get(), mode);
    archive_entry_set_size(e.get(), size);
    archive_entry_set_mtime(e.get(), 0, 0);
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK) return Err("write " + name);
    return Ok();
  }
  Status Data(const void* p, size_t n) {
    if (archive_write_data(a_.get(), p, n) != static_cast<la_ssize_t>(n)) return Err("write data");
    return Ok();
  }
  Error Err(const std::string& what) {
    return MakeError(ErrorCode::kIo, "{} `{}`: {}", what, what_, archive_error_string(a_.get()) ?: "unknown error");
  }
  std::unique_ptr<archive, ArchiveDeleter> a_;
  std::string what_;
};

Status WriteArchive(const cache::BlobStore& blobs, const Image& img, const std::vector<Reference>& names,
                    int fd, const std::string& path) {
  Index index;
  Descriptor md{kMediaTypeManifest, img.manifest_digest, img.manifest_size, {}, std::nullopt};
  if (names.empty()) index.manifests.push_back(md);
  for (const auto& n : names) {
    Descriptor d = md;
    d.annotations["io.containerd.image.name"] = n.String();
    if (!n.tag.empty()) d.annotations["org.opencontainers.image.ref.name"] = n.tag;
    index.manifests.push_back(d);
  }
  TarWriter w(path);
  CB_TRY(w.Open(fd));
  CB_TRY(w.File("oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  CB_TRY(w.File("index.json", ToJson(index)));
  CB_TRY(w.Dir("blobs/"));
  CB_TRY(w.Dir("blobs/sha256/"));
  std::set<Digest> done;
  for (const Digest& d : {img.manifest_digest, img.config_digest}) {
    if (done.insert(d).second) CB_TRY(w.Blob(blobs, d));
  }
  for (const auto& l : img.manifest.layers) {
    if (done.insert(l.digest).second) CB_TRY(w.Blob(blobs, l.digest));
  }
  return w.Close();
}

}  // namespace

Status WriteOciArchive(const cache::BlobStore& blobs, const Image& img, const std::vector<Reference>& names,
                       const std::string& path) {
  std::string tmp = path + ".tmp-XXXXXX";
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd) return ErrnoError(errno, fmt::format("create `{}`", tmp));
  auto st = WriteArchive(blobs, img, names, fd.get(), path);
  if (st && ::fsync(fd.get()) != 0) st = ErrnoError(errno, fmt::format("fsync `{}`", tmp));
  if (st) ::fchmod(fd.get(), 0644);
  if (st && ::rename(tmp.c_str(), path.c_str()) != 0) st = ErrnoError(errno, fmt::format("rename to `{}`", path));
  if (!st) ::unlink(tmp.c_str());
  return st;
}

}  // namespace cb::image
