#include "snapshotter/recompress.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "snapshotter/tar_archive.h"

namespace cb::snapshotter {
namespace {

constexpr int kTarBlock = 512;

/// Output side: hashes, counts and writes every compressed byte.
struct Out {
  int fd;
  Sha256 hash;
  int64_t size = 0;
  int err = 0;

  Status Write(const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    hash.Update(c, n);
    size += static_cast<int64_t>(n);
    while (n > 0) {
      ssize_t w = ::write(fd, c, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return ErrnoError(errno, "write layer");
      c += w;
      n -= static_cast<size_t>(w);
    }
    return Ok();
  }
  static la_ssize_t Callback(archive* a, void* self, const void* buf, size_t n) {
    auto* o = static_cast<Out*>(self);
    auto st = o->Write(buf, n);
    if (!st) {
      o->err = errno ? errno : EIO;
      archive_set_error(a, o->err, "%s", st.error().message.c_str());
      return -1;
    }
    return static_cast<la_ssize_t>(n);
  }
};

Status ConfigureCompressor(archive* c, const DiffOptions& opts) {
  int r = opts.compression == Compression::kGzip ? archive_write_add_filter_gzip(c)
                                                 : archive_write_add_filter_zstd(c);
  if (r != ARCHIVE_OK) return tar::ArchiveError(c, "recompress: compression filter");
  if (opts.compression == Compression::kGzip) {
    if (archive_write_set_filter_option(c, "gzip", "timestamp", nullptr) != ARCHIVE_OK)
      return tar::ArchiveError(c, "recompress: gzip options");
  } else {
    std::string threads = std::to_string(std::max(1, opts.threads));
    if (archive_write_set_filter_option(c, "zstd", "threads", threads.c_str()) != ARCHIVE_OK)
      return tar::ArchiveError(c, "recompress: zstd options");
  }
  if (opts.level > 0) {
    std::string level = std::to_string(opts.level);
    if (archive_write_set_filter_option(c, nullptr, "compression-level", level.c_str()) != ARCHIVE_OK)
      return tar::ArchiveError(c, "recompress: compression level");
  }
  archive_write_set_bytes_per_block(c, kTarBlock);
  archive_write_set_bytes_in_last_block(c, 1);
  return Ok();
}

}  // namespace

Result<LayerBlob> Recompress(int in_fd, int out_fd, const DiffOptions& opts, const std::string& what) {
  tar::ReaderPtr in(archive_read_new());
  if (!in || archive_read_support_filter_all(in.get()) != ARCHIVE_OK ||
      archive_read_support_format_raw(in.get()) != ARCHIVE_OK ||
      archive_read_support_format_empty(in.get()) != ARCHIVE_OK ||
      archive_read_open_fd(in.get(), in_fd, 1 << 20) != ARCHIVE_OK)
    return tar::ArchiveError(in.get(), fmt::format("recompress {}: open", what));
  Out out{out_fd, Sha256(), 0, 0};
  tar::WriterPtr w;
  if (opts.compression != Compression::kNone) {
    w.reset(archive_write_new());
    CB_TRY(ConfigureCompressor(w.get(), opts));
    if (archive_write_set_format_raw(w.get()) != ARCHIVE_OK ||
        archive_write_open2(w.get(), &out, nullptr, &Out::Callback, nullptr, nullptr) != ARCHIVE_OK)
      return tar::ArchiveError(w.get(), fmt::format("recompress {}: open output", what));
    tar::EntryPtr e(archive_entry_new());
    archive_entry_set_pathname(e.get(), "layer.tar");
    archive_entry_set_filetype(e.get(), AE_IFREG);
    if (archive_write_header(w.get(), e.get()) != ARCHIVE_OK)
      return tar::ArchiveError(w.get(), fmt::format("recompress {}: open output", what));
  }
  Sha256 diff;
  archive_entry* entry = nullptr;
  int r = archive_read_next_header(in.get(), &entry);
  if (r != ARCHIVE_OK && r != ARCHIVE_EOF)
    return tar::ArchiveError(in.get(), fmt::format("recompress {}: read", what));
  std::vector<char> buf(1 << 20);
  while (r == ARCHIVE_OK) {
    la_ssize_t n = archive_read_data(in.get(), buf.data(), buf.size());
    if (n < 0) return tar::ArchiveError(in.get(), fmt::format("recompress {}: read", what));
    if (n == 0) break;
    diff.Update(buf.data(), static_cast<size_t>(n));
    if (w) {
      if (archive_write_data(w.get(), buf.data(), static_cast<size_t>(n)) != n)
        return tar::ArchiveError(w.get(), fmt::format("recompress {}: write", what));
    } else {
      CB_TRY_CTX(out.Write(buf.data(), static_cast<size_t>(n)), "recompress {}", what);
    }
  }
  if (w && archive_write_close(w.get()) != ARCHIVE_OK)
    return tar::ArchiveError(w.get(), fmt::format("recompress {}: finish", what));
  LayerBlob b;
  b.diff_id = diff.Finish();
  b.digest = out.hash.Finish();
  b.size = out.size;
  b.media_type = LayerMediaType(opts.compression);
  return b;
}

}  // namespace cb::snapshotter
