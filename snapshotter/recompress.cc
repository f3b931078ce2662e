#include "snapshotter/recompress.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "snapshotter/layer_compressor.h"
#include "snapshotter/tar_archive.h"

namespace cb::snapshotter {
namespace {

/// Output side: hashes, counts and writes every compressed byte.
struct Out {
  int fd;
  Sha256 hash;
  int64_t size = 0;

  Status Write(const char* c, size_t n) {
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
};

}  // namespace

Result<LayerBlob> Recompress(int in_fd, int out_fd, const DiffOptions& opts, const std::string& what) {
  tar::ReaderPtr in(archive_read_new());
  if (!in || archive_read_support_filter_all(in.get()) != ARCHIVE_OK ||
      archive_read_support_format_raw(in.get()) != ARCHIVE_OK ||
      archive_read_support_format_empty(in.get()) != ARCHIVE_OK ||
      archive_read_open_fd(in.get(), in_fd, 1 << 20) != ARCHIVE_OK)
    return tar::ArchiveError(in.get(), fmt::format("recompress {}: open", what));
  Out out{out_fd, Sha256(), 0};
  auto compressor = CB_TRY(LayerCompressor::Open(
      opts, [&out](const char* p, size_t n) { return out.Write(p, n); }, fmt::format("recompress {}", what)));
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
    CB_TRY_CTX(compressor->Write(buf.data(), static_cast<size_t>(n)), "recompress {}", what);
  }
  CB_TRY_CTX(compressor->Finish(), "recompress {}", what);
  LayerBlob b;
  b.diff_id = diff.Finish();
  b.digest = out.hash.Finish();
  b.size = out.size;
  b.media_type = LayerMediaType(opts.compression);
  return b;
}

}  // namespace cb::snapshotter
