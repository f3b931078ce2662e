#include "snapshotter/tar_stream.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cb::snapshotter::tar {

namespace {
constexpr size_t kReadBlock = size_t{1} << 20;
}  // namespace

UncompressedStream::UncompressedStream(int in_fd, int64_t cap) : in_fd_(in_fd), cap_(cap) {}

la_ssize_t UncompressedStream::InputCallback(archive* a, void* self, const void** buf) {
  auto* s = static_cast<UncompressedStream*>(self);
  if (s->input_.empty()) s->input_.resize(kReadBlock);
  for (;;) {
    ssize_t n = ::read(s->in_fd_, s->input_.data(), s->input_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s->input_err_ = errno;
      archive_set_error(a, errno, "read layer: %s", std::strerror(errno));
      return -1;
    }
    s->input_bytes_ += n;
    *buf = s->input_.data();
    return n;
  }
}

Status UncompressedStream::Open() {
  raw_.reset(archive_read_new());
  archive* a = raw_.get();
  if (a == nullptr) return MakeError(ErrorCode::kFailed, "layer stream: out of memory");
  // The "raw" format hands back the decompressed bytes untouched; the tar reader sits on top.
  if (archive_read_support_filter_all(a) != ARCHIVE_OK ||
      archive_read_support_format_raw(a) != ARCHIVE_OK ||
      archive_read_open2(a, this, nullptr, &UncompressedStream::InputCallback, nullptr,
                         nullptr) != ARCHIVE_OK) {
    if (input_err_ != 0) return ErrnoError(input_err_, "layer stream: read");
    if (input_bytes_ == 0) {
      eof_ = true;  // empty input: an empty layer
      return Ok();
    }
    return ArchiveError(a, "layer stream: open");
  }
  archive_entry* e = nullptr;
  int r = archive_read_next_header(a, &e);
  if (r == ARCHIVE_EOF) {
    eof_ = true;  // empty input: an empty layer
    return Ok();
  }
  if (r < ARCHIVE_WARN) return ArchiveError(a, "layer stream: decompress");
  return Ok();
}

la_ssize_t UncompressedStream::Next(const void** buf) {
  if (eof_) return 0;
  size_t size = 0;
  la_int64_t offset = 0;
  int r = archive_read_data_block(raw_.get(), buf, &size, &offset);
  if (r == ARCHIVE_EOF) {
    eof_ = true;
    return 0;
  }
  if (r < ARCHIVE_WARN) {
    const char* msg = archive_error_string(raw_.get());
    error_ = msg ? msg : "decompression failed";
    return -1;
  }
  if (bytes_ + static_cast<int64_t>(size) > cap_) {
    over_cap_ = true;
    error_ = fmt::format("uncompressed size exceeds the cap of {} bytes", cap_);
    return -1;
  }
  hash_.Update(*buf, size);
  bytes_ += static_cast<int64_t>(size);
  return static_cast<la_ssize_t>(size);
}

la_ssize_t UncompressedStream::ReadCallback(archive* a, void* self, const void** buf) {
  auto* s = static_cast<UncompressedStream*>(self);
  la_ssize_t n = s->Next(buf);
  if (n < 0) archive_set_error(a, s->over_cap_ ? EFBIG : EIO, "%s", s->error_.c_str());
  return n;
}

Status UncompressedStream::Drain() {
  const void* buf = nullptr;
  for (;;) {
    la_ssize_t n = Next(&buf);
    if (n == 0) return Ok();
    if (n < 0) return MakeError(over_cap_ ? ErrorCode::kInvalidArgument : ErrorCode::kCorrupt,
                                "layer stream: {}", error_);
  }
}

}  // namespace cb::snapshotter::tar
