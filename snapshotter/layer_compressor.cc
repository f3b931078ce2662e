#include "snapshotter/layer_compressor.h"

#include <algorithm>
#include <optional>
#include <string>

#include "snapshotter/tar_archive.h"

namespace cb::snapshotter {
namespace {

class PlainCompressor : public LayerCompressor {
 public:
  explicit PlainCompressor(Sink sink) : sink_(std::move(sink)) {}
  Status Write(const void* data, size_t n) override { return sink_(static_cast<const char*>(data), n); }
  Status Finish() override { return Ok(); }

 private:
  Sink sink_;
};

class GzipCompressor : public LayerCompressor {
 public:
  GzipCompressor(Sink sink, const DiffOptions& opts) : gz_(std::move(sink), opts.level, opts.threads) {}
  Status Write(const void* data, size_t n) override { return gz_.Write(data, n); }
  Status Finish() override { return gz_.Finish(); }

 private:
  GzipWriter gz_;
};

// libarchive's zstd filter over a "raw" format writer (one nameless entry).
class ZstdCompressor : public LayerCompressor {
 public:
  explicit ZstdCompressor(Sink sink) : sink_(std::move(sink)) {}

  Status Open(const DiffOptions& opts, const std::string& what) {
    a_.reset(archive_write_new());
    archive* a = a_.get();
    if (a == nullptr) return MakeError(ErrorCode::kFailed, "{}: out of memory", what);
    if (archive_write_add_filter_zstd(a) != ARCHIVE_OK) return tar::ArchiveError(a, what + ": zstd filter");
    // zstd's multi-threaded format is the same for every worker count >= 1, so the bytes do
    // not depend on the machine's cores.
    std::string threads = std::to_string(std::max(1, opts.threads));
    if (archive_write_set_filter_option(a, "zstd", "threads", threads.c_str()) != ARCHIVE_OK)
      return tar::ArchiveError(a, what + ": zstd options");
    if (opts.level > 0) {
      std::string level = std::to_string(opts.level);
      if (archive_write_set_filter_option(a, nullptr, "compression-level", level.c_str()) != ARCHIVE_OK)
        return tar::ArchiveError(a, what + ": compression level");
    }
    archive_write_set_bytes_per_block(a, 10240);
    archive_write_set_bytes_in_last_block(a, 1);
    if (archive_write_set_format_raw(a) != ARCHIVE_OK ||
        archive_write_open2(a, this, nullptr, &Callback, nullptr, nullptr) != ARCHIVE_OK)
      return Failure(what + ": open zstd");
    tar::EntryPtr e(archive_entry_new());
    archive_entry_set_pathname(e.get(), "layer.tar");
    archive_entry_set_filetype(e.get(), AE_IFREG);
    if (archive_write_header(a, e.get()) != ARCHIVE_OK) return Failure(what + ": open zstd");
    return Ok();
  }
  Status Write(const void* data, size_t n) override {
    if (archive_write_data(a_.get(), data, n) != static_cast<la_ssize_t>(n)) return Failure("zstd");
    return Ok();
  }
  Status Finish() override {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) return Failure("zstd");
    return Ok();
  }

 private:
  static la_ssize_t Callback(archive* a, void* self, const void* data, size_t n) {
    auto* z = static_cast<ZstdCompressor*>(self);
    auto st = z->sink_(static_cast<const char*>(data), n);
    if (st) return static_cast<la_ssize_t>(n);
    archive_set_error(a, EIO, "%s", st.error().message.c_str());
    z->sink_error_ = st.error();
    return -1;
  }
  // The sink's own error when it caused the failure, else libarchive's.
  Error Failure(const std::string& what) {
    if (sink_error_) return *sink_error_;
    return tar::ArchiveError(a_.get(), what);
  }

  Sink sink_;
  tar::WriterPtr a_;
  std::optional<Error> sink_error_;
};

}  // namespace

Result<std::unique_ptr<LayerCompressor>> LayerCompressor::Open(const DiffOptions& opts, Sink sink,
                                                               const std::string& what) {
  using Ptr = std::unique_ptr<LayerCompressor>;
  switch (opts.compression) {
    case Compression::kNone:
      return Ptr(std::make_unique<PlainCompressor>(std::move(sink)));
    case Compression::kGzip:
      return Ptr(std::make_unique<GzipCompressor>(std::move(sink), opts));
    case Compression::kZstd: {
      auto z = std::make_unique<ZstdCompressor>(std::move(sink));
      CB_TRY(z->Open(opts, what));
      return Ptr(std::move(z));
    }
  }
  return MakeError(ErrorCode::kInvalidArgument, "{}: unknown compression", what);
}

}  // namespace cb::snapshotter
