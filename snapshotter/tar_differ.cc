// Differ: directory tree → (compressed) layer tar, in one streaming pass over file contents.
//
// Bytes flow: entry headers and file data → libarchive pax writer (no filter) → TarSink
// (diff_id hash) → LayerCompressor (parallel gzip, zstd or none) → OutSink (digest hash,
// size, write to out_fd). The same tree always gives the same bytes: sorted entries, numeric
// owners, no atime/ctime, whole-second (optionally clamped) mtimes, sorted xattrs, gzip header
// without name or time, compressed bytes independent of the thread count.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "common/unique_fd.h"
#include "snapshotter/differ.h"
#include "snapshotter/layer_compressor.h"
#include "snapshotter/tar_archive.h"
#include "snapshotter/tar_tree.h"

namespace cb::snapshotter {
namespace {

using tar::NodeKind;
using tar::TreeNode;

constexpr size_t kBufSize = size_t{1} << 20;
constexpr int kTarBlock = 10240;

// Final stage: counts, hashes and writes compressed bytes to the caller's fd.
struct OutSink {
  int fd = -1;
  bool hashing = true;  // off when the output is the uncompressed tar (digest == diff_id)
  Sha256 hash;
  int64_t size = 0;
  int err = 0;

  Status Write(const char* p, size_t n) {
    if (hashing) hash.Update(p, n);
    size += static_cast<int64_t>(n);
    if (fd < 0) return Ok();  // digests only
    while (n > 0) {
      ssize_t w = ::write(fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        err = errno;
        return ErrnoError(err, "write layer");
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    return Ok();
  }
};

// SHA-256 of the tar stream on a second thread: while it hashes one 1 MiB piece, the
// caller's thread reads files and frames the next (reading and hashing a big layer take about
// as long as each other). The thread starts at the first full piece: small layers never
// start one. Same digest as hashing in line.
class PipelinedHash {
 public:
  PipelinedHash() { fill_.reserve(kPiece); }
  ~PipelinedHash() { Stop(); }
  PipelinedHash(const PipelinedHash&) = delete;
  PipelinedHash& operator=(const PipelinedHash&) = delete;

  void Update(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      size_t k = std::min(n, kPiece - fill_.size());
      fill_.insert(fill_.end(), p, p + k);
      p += k;
      n -= k;
      if (fill_.size() == kPiece) Hand();
    }
  }
  Digest Finish() {
    Stop();  // waits for the piece in flight
    hash_.Update(fill_.data(), fill_.size());
    fill_.clear();
    return hash_.Finish();
  }

 private:
  static constexpr size_t kPiece = size_t{1} << 20;

  void Hand() {
    if (inline_) {  // no second thread could be started: hash here
      hash_.Update(fill_.data(), fill_.size());
      fill_.clear();
      return;
    }
    if (!worker_.joinable()) {
      try {
        worker_ = std::thread([this] { Work(); });
      } catch (const std::system_error&) {  // e.g. a pids limit: same digest, one thread
        inline_ = true;
        Hand();
        return;
      }
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !busy_; });
    std::swap(fill_, work_);
    fill_.clear();
    busy_ = true;
    cv_.notify_all();
  }
  void Work() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return busy_ || stop_; });
      if (busy_) {
        lock.unlock();
        hash_.Update(work_.data(), work_.size());
        lock.lock();
        busy_ = false;
        cv_.notify_all();
      } else {
        return;  // stop_, nothing in flight
      }
    }
  }
  void Stop() {
    if (!worker_.joinable()) return;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return !busy_; });
      stop_ = true;
      cv_.notify_all();
    }
    worker_.join();
  }

  Sha256 hash_;
  std::vector<char> fill_, work_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool busy_ = false, stop_ = false, inline_ = false;
  std::thread worker_;
};

// Middle stage: hashes the uncompressed tar, then compresses it (or passes it through).
struct TarSink {
  std::unique_ptr<LayerCompressor> compressor;
  PipelinedHash hash;
  int64_t size = 0;
  std::optional<Error> error;  // the compressor's, when it failed

  static la_ssize_t Callback(archive*, void* self, const void* data, size_t n) {
    auto* s = static_cast<TarSink*>(self);
    s->hash.Update(data, n);
    s->size += static_cast<int64_t>(n);
    auto st = s->compressor->Write(data, n);
    if (st) return static_cast<la_ssize_t>(n);
    s->error = st.error();
    return -1;
  }
};

// State of one Diff call.
class DiffJob {
 public:
  DiffJob(const std::string& dir, int out_fd) : dir_(dir), buf_(kBufSize) { out_.fd = out_fd; }
  Result<LayerBlob> Run(const DiffOptions& opts);

 private:
  Status OpenCompressor(const DiffOptions& opts);
  Status OpenTarWriter();
  Status WriteNode(const TreeNode& node, const DiffOptions& opts);
  Status WriteContents(const TreeNode& node, archive_entry* entry);
  Status WriteData(const TreeNode& node, const void* data, size_t n);
  Status CopyRange(const TreeNode& node, int fd, int64_t off, int64_t len);
  Status WriteZeros(const TreeNode& node, int64_t len);
  Error WriterError(archive* a, const std::string& path) const;

  std::string dir_;
  std::vector<char> buf_;
  UniqueFd root_fd_;
  OutSink out_;
  TarSink tar_sink_;
  tar::WriterPtr tar_;
  std::map<std::pair<dev_t, ino_t>, std::string> first_link_;
};

class TarDiffer : public Differ {
 public:
  Result<LayerBlob> Diff(const std::string& dir, int out_fd, const DiffOptions& opts) override {
    DiffJob job(dir, out_fd);
    return job.Run(opts);
  }
};

Error DiffJob::WriterError(archive* a, const std::string& path) const {
  if (out_.err != 0) return ErrnoError(out_.err, fmt::format("diff `{}`: write layer", dir_));
  if (tar_sink_.error) {
    return MakeError(tar_sink_.error->code, "diff `{}`: `{}`: {}", dir_, path, tar_sink_.error->message);
  }
  return tar::ArchiveError(a, fmt::format("diff `{}`: `{}`", dir_, path));
}

Status DiffJob::OpenCompressor(const DiffOptions& opts) {
  out_.hashing = opts.compression != Compression::kNone;
  OutSink* out = &out_;
  tar_sink_.compressor = CB_TRY(LayerCompressor::Open(
      opts, [out](const char* p, size_t n) { return out->Write(p, n); }, "diff"));
  return Ok();
}

Status DiffJob::OpenTarWriter() {
  tar_.reset(archive_write_new());
  archive* a = tar_.get();
  if (a == nullptr) return MakeError(ErrorCode::kFailed, "diff `{}`: out of memory", dir_);
  if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
      archive_write_set_format_option(a, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK ||
      // Names are bytes: written as they are, whatever the process locale.
      archive_write_set_format_option(a, "pax", "hdrcharset", "BINARY") != ARCHIVE_OK ||
      archive_write_add_filter_none(a) != ARCHIVE_OK) {
    return tar::ArchiveError(a, "diff: tar format");
  }
  archive_write_set_bytes_per_block(a, kTarBlock);
  archive_write_set_bytes_in_last_block(a, 1);
  if (archive_write_open2(a, &tar_sink_, nullptr, &TarSink::Callback, nullptr, nullptr) !=
      ARCHIVE_OK) {
    return WriterError(a, "<open>");
  }
  return Ok();
}

void FillHeader(archive_entry* e, const TreeNode& n, const DiffOptions& opts) {
  int64_t mtime = n.mtime;
  if (opts.clamp_mtime && mtime > *opts.clamp_mtime) mtime = *opts.clamp_mtime;
  archive_entry_copy_pathname(e, n.path.c_str());
  archive_entry_set_mtime(e, static_cast<time_t>(mtime), 0);
  if (n.kind != NodeKind::kPlain) {
    // Whiteouts and opaque markers: empty regular files carrying no metadata of their own.
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0);
    archive_entry_set_size(e, 0);
    return;
  }
  archive_entry_set_mode(e, n.mode);
  archive_entry_set_uid(e, n.uid);
  archive_entry_set_gid(e, n.gid);
  archive_entry_set_size(e, S_ISREG(n.mode) ? n.size : 0);
  if (S_ISLNK(n.mode)) archive_entry_copy_symlink(e, n.link_target.c_str());
  if (S_ISCHR(n.mode) || S_ISBLK(n.mode)) {
    archive_entry_set_rdevmajor(e, major(n.rdev));
    archive_entry_set_rdevminor(e, minor(n.rdev));
  }
  for (const auto& [key, value] : n.xattrs) {
    archive_entry_xattr_add_entry(e, key.c_str(), value.data(), value.size());
  }
}

Status DiffJob::WriteNode(const TreeNode& node, const DiffOptions& opts) {
  tar::EntryPtr entry(archive_entry_new());
  archive_entry* e = entry.get();
  FillHeader(e, node, opts);
  bool contents = node.kind == NodeKind::kPlain && S_ISREG(node.mode) && node.size > 0;
  if (node.kind == NodeKind::kPlain && !S_ISDIR(node.mode) && node.nlink > 1) {
    auto [it, inserted] = first_link_.try_emplace({node.dev, node.ino}, node.path);
    if (!inserted) {
      archive_entry_copy_hardlink(e, it->second.c_str());
      archive_entry_set_size(e, 0);
      archive_entry_xattr_clear(e);
      contents = false;
    }
  }
  if (contents) return WriteContents(node, e);
  if (archive_write_header(tar_.get(), e) != ARCHIVE_OK) return WriterError(tar_.get(), node.path);
  return Ok();
}

// Data regions of a file (SEEK_DATA/SEEK_HOLE); one region covering the file when not sparse.
Result<std::vector<std::pair<int64_t, int64_t>>> DataRegions(int fd, int64_t size) {
  std::vector<std::pair<int64_t, int64_t>> regions;
  for (int64_t off = 0; off < size;) {
    off_t data = ::lseek(fd, off, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;  // only a hole remains
    if (data < 0 && (errno == EINVAL || errno == ENOTSUP)) return decltype(regions){{0, size}};
    if (data < 0) return ErrnoError(errno, "seek data");
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) return ErrnoError(errno, "seek hole");
    int64_t end = std::min<int64_t>(hole, size);
    if (end > data) regions.emplace_back(data, end - data);
    off = hole;
  }
  return regions;
}

Status DiffJob::WriteContents(const TreeNode& node, archive_entry* e) {
  UniqueFd fd(::openat(root_fd_.get(), node.path.c_str(),
                       O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) return ErrnoError(errno, fmt::format("diff `{}`: open `{}`", dir_, node.path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || st.st_ino != node.ino || st.st_dev != node.dev) {
    return MakeError(ErrorCode::kFailed, "diff `{}`: `{}` changed while diffing", dir_, node.path);
  }
  // Fully allocated files have no holes: skip the two SEEK_DATA/SEEK_HOLE calls per file.
  auto regions = static_cast<int64_t>(st.st_blocks) * 512 >= node.size
                     ? Result<std::vector<std::pair<int64_t, int64_t>>>(
                           std::vector<std::pair<int64_t, int64_t>>{{0, node.size}})
                     : DataRegions(fd.get(), node.size);
  if (!regions) {
    return MakeError(regions.error().code, "diff `{}`: `{}`: {}", dir_, node.path,
                     regions.error().message);
  }
  bool sparse = regions->size() != 1 || (*regions)[0] != std::pair<int64_t, int64_t>{0, node.size};
  if (sparse) {
    for (const auto& [off, len] : *regions) archive_entry_sparse_add_entry(e, off, len);
    if (regions->empty()) archive_entry_sparse_add_entry(e, node.size, 0);
  }
  if (archive_write_header(tar_.get(), e) != ARCHIVE_OK) return WriterError(tar_.get(), node.path);
  int64_t pos = 0;
  for (const auto& [off, len] : *regions) {
    CB_TRY(WriteZeros(node, off - pos));
    CB_TRY(CopyRange(node, fd.get(), off, len));
    pos = off + len;
  }
  return WriteZeros(node, node.size - pos);
}

Status DiffJob::WriteData(const TreeNode& node, const void* data, size_t n) {
  la_ssize_t w = archive_write_data(tar_.get(), data, n);
  if (w != static_cast<la_ssize_t>(n)) return WriterError(tar_.get(), node.path);
  return Ok();
}

Status DiffJob::CopyRange(const TreeNode& node, int fd, int64_t off, int64_t len) {
  while (len > 0) {
    size_t want = static_cast<size_t>(std::min<int64_t>(len, static_cast<int64_t>(buf_.size())));
    ssize_t n = ::pread(fd, buf_.data(), want, off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, fmt::format("diff `{}`: read `{}`", dir_, node.path));
    if (n == 0) {
      return MakeError(ErrorCode::kFailed, "diff `{}`: `{}` shrank while diffing", dir_,
                       node.path);
    }
    CB_TRY(WriteData(node, buf_.data(), static_cast<size_t>(n)));
    off += n;
    len -= n;
  }
  return Ok();
}

// Holes: the pax writer skips bytes that fall in a sparse hole, so this costs no output.
Status DiffJob::WriteZeros(const TreeNode& node, int64_t len) {
  static const std::vector<char> kZeros(kBufSize, '\0');
  while (len > 0) {
    size_t n = static_cast<size_t>(std::min<int64_t>(len, static_cast<int64_t>(kZeros.size())));
    CB_TRY(WriteData(node, kZeros.data(), n));
    len -= static_cast<int64_t>(n);
  }
  return Ok();
}

Result<LayerBlob> DiffJob::Run(const DiffOptions& opts) {
  root_fd_.reset(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd_) return ErrnoError(errno, fmt::format("diff: open `{}`", dir_));
  std::vector<TreeNode> nodes = CB_TRY(tar::ScanTree(root_fd_.get(), dir_));
  CB_TRY(OpenCompressor(opts));
  CB_TRY(OpenTarWriter());
  for (const TreeNode& node : nodes) CB_TRY(WriteNode(node, opts));
  if (archive_write_close(tar_.get()) != ARCHIVE_OK) return WriterError(tar_.get(), "<end>");
  if (auto st = tar_sink_.compressor->Finish(); !st) {
    if (out_.err != 0) return ErrnoError(out_.err, fmt::format("diff `{}`: write layer", dir_));
    return MakeError(st.error().code, "diff `{}`: {}", dir_, st.error().message);
  }
  tar_.reset();
  tar_sink_.compressor.reset();
  root_fd_.reset();
  LayerBlob blob;
  blob.diff_id = tar_sink_.hash.Finish();
  blob.digest = opts.compression == Compression::kNone ? blob.diff_id : out_.hash.Finish();
  blob.size = out_.size;
  blob.media_type = LayerMediaType(opts.compression);
  return blob;
}

}  // namespace

const char* LayerMediaType(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "application/vnd.oci.image.layer.v1.tar";
    case Compression::kGzip:
      return "application/vnd.oci.image.layer.v1.tar+gzip";
    case Compression::kZstd:
      return "application/vnd.oci.image.layer.v1.tar+zstd";
  }
  return "application/vnd.oci.image.layer.v1.tar";
}

std::unique_ptr<Differ> NewTarDiffer() { return std::make_unique<TarDiffer>(); }

}  // namespace cb::snapshotter
