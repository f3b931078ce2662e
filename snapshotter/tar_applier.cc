// Applier: layer tar stream → files under a target directory, never outside it.
//
// Two libarchive readers are chained: the first only decompresses (format "raw"), the
// UncompressedStream between them hashes and counts the bytes (diff_id, bomb cap), the second
// parses the tar. Every entry is created with *at calls relative to a parent directory fd
// resolved inside the root (openat2 RESOLVE_IN_ROOT), so ".." and symlinks cannot lead out;
// metadata is set through the new file's fd or with AT_SYMLINK_NOFOLLOW.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <tuple>
#include <vector>

#include "common/unique_fd.h"
#include "snapshotter/applier.h"
#include "snapshotter/tar_archive.h"
#include "snapshotter/tar_rooted.h"
#include "snapshotter/tar_stream.h"

namespace cb::snapshotter {
namespace {


constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kWhiteoutMetaPrefix = ".wh..wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
constexpr std::string_view kOverlayXattrPrefix = "trusted.overlay.";

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

struct DeferredDir {
  std::string path;
  struct timespec times[2];
};

class ApplyJob {
 public:
  ApplyJob(int in_fd, const std::string& target, const ApplyOptions& opts)
      : target_(target), opts_(opts), stream_(in_fd, opts.max_uncompressed_bytes) {}
  Result<ApplyResult> Run();

 private:
  Status OpenReader();
  Status ApplyEntry(archive_entry* e);
  Status ApplyRoot(archive_entry* e);
  Status ApplyWhiteout(const std::vector<std::string>& comps);
  Status ApplyOpaque(int dir_fd);
  Status CreateNode(int parent, const std::string& base, const std::vector<std::string>& comps,
                    archive_entry* e);
  Status MergeDir(int parent, const std::string& base, const std::vector<std::string>& comps,
                  archive_entry* e);
  Status WriteRegular(int parent, const std::string& base, archive_entry* e);
  Status CreateHardlink(int parent, const std::string& base, const std::vector<std::string>& comps,
                        const char* target);
  Status SetMetadata(int parent, const std::string& base, int fd, archive_entry* e);
  Status SetXattrs(int parent, const std::string& base, int fd, archive_entry* e);
  void DeferDirTimes(std::string path, archive_entry* e);
  Status FinishDirs();
  /// The parent directory of `comps`, made if missing (unless !create: then -1 if missing).
  Result<int> ParentFd(const std::vector<std::string>& comps, bool create = true);
  void Remember(int parent, const std::string& base);
  Error EntryError(const std::string& entry, const Error& e) const;
  Error ReaderError(const std::string& what) const;

  std::string target_;
  ApplyOptions opts_;
  tar::UncompressedStream stream_;
  tar::ReaderPtr tar_;
  UniqueFd root_fd_;
  std::string entry_;  // name of the entry being applied, for messages
  std::vector<DeferredDir> dirs_;
  std::set<std::tuple<dev_t, ino_t, std::string>> created_;  // plain mode: this layer's nodes
  std::string cached_parent_;
  UniqueFd cached_fd_;
};

// "apply layer to `T`: entry `E`: why" (no entry part before the first header).
Error ApplyJob::EntryError(const std::string& entry, const Error& e) const {
  std::string where = entry.empty() ? "" : fmt::format("entry `{}`: ", entry);
  return Error{e.code, fmt::format("apply layer to `{}`: {}{}", target_, where, e.message),
               std::nullopt, 0};
}

// A failure of the tar reader (or the stream under it), without the target/entry prefix.
Error ApplyJob::ReaderError(const std::string& what) const {
  if (stream_.over_cap()) {
    return MakeError(ErrorCode::kInvalidArgument, "{}: {}", what, stream_.error());
  }
  const char* msg = archive_error_string(tar_.get());
  return MakeError(ErrorCode::kCorrupt, "{}: {}", what, msg ? msg : "bad tar stream");
}

Status ApplyJob::OpenReader() {
  CB_TRY_CTX(stream_.Open(), "apply layer to `{}`", target_);
  tar_.reset(archive_read_new());
  archive* a = tar_.get();
  if (a == nullptr) return MakeError(ErrorCode::kFailed, "apply layer: out of memory");
  if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
      archive_read_support_format_empty(a) != ARCHIVE_OK ||
      archive_read_open2(a, &stream_, nullptr, &tar::UncompressedStream::ReadCallback, nullptr,
                         nullptr) != ARCHIVE_OK) {
    return EntryError("", ReaderError("open tar"));
  }
  return Ok();
}

Result<int> ApplyJob::ParentFd(const std::vector<std::string>& comps, bool create) {
  std::string key = path::Join(comps, comps.size() - 1);
  if (cached_fd_ && key == cached_parent_) return cached_fd_.get();
  auto fd = tar::OpenDirInRoot(root_fd_.get(), comps, comps.size() - 1, create);
  if (!fd && !create && fd.error().code == ErrorCode::kNotFound) return -1;
  cached_fd_ = CB_TRY(std::move(fd));
  cached_parent_ = key;
  return cached_fd_.get();
}

void ApplyJob::Remember(int parent, const std::string& base) {
  if (opts_.overlay_whiteouts) return;
  struct stat st;
  if (::fstat(parent, &st) == 0) created_.emplace(st.st_dev, st.st_ino, base);
}

Status ApplyJob::ApplyEntry(archive_entry* e) {
  std::vector<std::string> comps = CB_TRY(path::SplitBelowRoot(entry_));
  if (comps.empty()) return ApplyRoot(e);
  const std::string& base = comps.back();
  if (StartsWith(base, kWhiteoutPrefix)) return ApplyWhiteout(comps);
  int parent = CB_TRY(ParentFd(comps));
  const char* hardlink = archive_entry_hardlink(e);
  struct stat st;
  if (::fstatat(parent, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(st.st_mode) && archive_entry_filetype(e) == AE_IFDIR && hardlink == nullptr) {
      return MergeDir(parent, base, comps, e);
    }
    if (hardlink != nullptr) {
      auto target = path::SplitBelowRoot(hardlink);
      if (target && *target == comps) {
        return MakeError(ErrorCode::kInvalidArgument, "hard link to itself");
      }
    }
    CB_TRY(tar::RemoveAt(parent, base));
    cached_fd_.reset();  // a removed directory may have been the cached parent
    parent = CB_TRY(ParentFd(comps));
  } else if (errno != ENOENT) {
    return ErrnoError(errno, "stat");
  }
  if (hardlink != nullptr) return CreateHardlink(parent, base, comps, hardlink);
  return CreateNode(parent, base, comps, e);
}

Status ApplyJob::ApplyRoot(archive_entry* e) {
  if (archive_entry_filetype(e) != AE_IFDIR || archive_entry_hardlink(e) != nullptr) {
    return MakeError(ErrorCode::kInvalidArgument, "names the root but is not a directory");
  }
  CB_TRY(SetMetadata(-1, "", root_fd_.get(), e));
  DeferDirTimes("", e);
  return Ok();
}

Status ApplyJob::MergeDir(int parent, const std::string& base,
                          const std::vector<std::string>& comps, archive_entry* e) {
  UniqueFd fd(::openat(parent, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return ErrnoError(errno, "open directory");
  CB_TRY(SetMetadata(parent, base, fd.get(), e));
  Remember(parent, base);
  DeferDirTimes(path::Join(comps, comps.size()), e);
  return Ok();
}

Status ApplyJob::ApplyWhiteout(const std::vector<std::string>& comps) {
  const std::string& base = comps.back();
  // Plain mode: a whiteout under a directory that does not exist has nothing to delete.
  bool create = opts_.overlay_whiteouts;
  if (base == kOpaqueMarker) {
    int dir = CB_TRY(ParentFd(comps, create));
    return dir < 0 ? Ok() : ApplyOpaque(dir);
  }
  if (StartsWith(base, kWhiteoutMetaPrefix)) return Ok();  // aufs bookkeeping: meaningless here
  std::string name = base.substr(kWhiteoutPrefix.size());
  if (name.empty() || name == "." || name == "..") {
    return MakeError(ErrorCode::kInvalidArgument, "whiteout of `{}` is not allowed", name);
  }
  int parent = CB_TRY(ParentFd(comps, create));
  if (parent < 0) return Ok();
  CB_TRY(tar::RemoveAt(parent, name));
  cached_fd_.reset();
  if (!opts_.overlay_whiteouts) return Ok();
  parent = CB_TRY(ParentFd(comps));
  if (::mknodat(parent, name.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) {
    return ErrnoError(errno, fmt::format("make whiteout `{}`", name));
  }
  return Ok();
}

Status ApplyJob::ApplyOpaque(int dir_fd) {
  if (opts_.overlay_whiteouts) {
    if (::fsetxattr(dir_fd, "trusted.overlay.opaque", "y", 1, 0) != 0) {
      return ErrnoError(errno, "set trusted.overlay.opaque");
    }
    return Ok();
  }
  struct stat st;
  if (::fstat(dir_fd, &st) != 0) return ErrnoError(errno, "stat directory");
  CB_TRY(tar::RemoveChildren(dir_fd, [&](const std::string& n) {
    return created_.count({st.st_dev, st.st_ino, n}) > 0;
  }));
  cached_fd_.reset();
  return Ok();
}

Status ApplyJob::CreateHardlink(int parent, const std::string& base,
                                const std::vector<std::string>& comps, const char* target) {
  auto tcomps = path::SplitBelowRoot(target);
  if (!tcomps) {
    return MakeError(ErrorCode::kInvalidArgument, "hard link target `{}`: {}", target,
                     tcomps.error().message);
  }
  if (tcomps->empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "hard link to the root `{}`", target);
  }
  auto tparent = tar::OpenDirNoSymlinks(root_fd_.get(), *tcomps, tcomps->size() - 1);
  if (!tparent) {
    return MakeError(tparent.error().code, "hard link target `{}`: {}", target,
                     tparent.error().message);
  }
  const std::string& tbase = tcomps->back();
  struct stat st;
  if (::fstatat(tparent->get(), tbase.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoError(errno, fmt::format("hard link target `{}`", target));
  }
  if (S_ISDIR(st.st_mode)) {
    return MakeError(ErrorCode::kInvalidArgument, "hard link target `{}` is a directory", target);
  }
  if (::linkat(tparent->get(), tbase.c_str(), parent, base.c_str(), 0) != 0) {
    return ErrnoError(errno, fmt::format("link to `{}`", target));
  }
  (void)comps;
  Remember(parent, base);
  return Ok();
}

Status ApplyJob::CreateNode(int parent, const std::string& base,
                            const std::vector<std::string>& comps, archive_entry* e) {
  unsigned type = archive_entry_filetype(e);
  const char* n = base.c_str();
  switch (type) {
    case AE_IFREG:
      CB_TRY(WriteRegular(parent, base, e));
      break;
    case AE_IFDIR: {
      if (::mkdirat(parent, n, 0700) != 0) return ErrnoError(errno, "mkdir");
      CB_TRY(MergeDir(parent, base, comps, e));
      break;
    }
    case AE_IFLNK: {
      const char* link = archive_entry_symlink(e);
      if (link == nullptr) return MakeError(ErrorCode::kCorrupt, "symlink without a target");
      if (::symlinkat(link, parent, n) != 0) return ErrnoError(errno, "symlink");
      CB_TRY(SetMetadata(parent, base, -1, e));
      break;
    }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO: {
      dev_t dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
      if (::mknodat(parent, n, type | 0600, type == AE_IFIFO ? 0 : dev) != 0) {
        return ErrnoError(errno, "mknod");
      }
      CB_TRY(SetMetadata(parent, base, -1, e));
      break;
    }
    case AE_IFSOCK:
      return Ok();  // sockets cannot be recreated from a tar; skipped like Docker does
    default:
      return MakeError(ErrorCode::kUnsupported, "unsupported entry type {:o}", type);
  }
  Remember(parent, base);
  return Ok();
}

Status ApplyJob::WriteRegular(int parent, const std::string& base, archive_entry* e) {
  UniqueFd fd(::openat(parent, base.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return ErrnoError(errno, "create");
  for (;;) {
    const void* buf = nullptr;
    size_t size = 0;
    la_int64_t off = 0;
    int r = archive_read_data_block(tar_.get(), &buf, &size, &off);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return ReaderError("read data");
    const char* p = static_cast<const char*>(buf);
    while (size > 0) {
      ssize_t w = ::pwrite(fd.get(), p, size, off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return ErrnoError(errno, "write");
      p += w;
      off += w;
      size -= static_cast<size_t>(w);
    }
  }
  // Sparse files: trailing holes are not written, the size is.
  if (archive_entry_size_is_set(e) && ::ftruncate(fd.get(), archive_entry_size(e)) != 0) {
    return ErrnoError(errno, "truncate");
  }
  return SetMetadata(parent, base, fd.get(), e);
}

// mtime, and atime when the tar has one (else the mtime).
void EntryTimes(archive_entry* e, struct timespec ts[2]) {
  ts[1] = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
  ts[0] = archive_entry_atime_is_set(e)
              ? timespec{archive_entry_atime(e), archive_entry_atime_nsec(e)}
              : ts[1];
}

void ApplyJob::DeferDirTimes(std::string path, archive_entry* e) {
  DeferredDir d{std::move(path), {}};
  EntryTimes(e, d.times);
  dirs_.push_back(std::move(d));
}

Status ApplyJob::SetMetadata(int parent, const std::string& base, int fd, archive_entry* e) {
  unsigned type = archive_entry_filetype(e);
  auto uid = static_cast<uid_t>(archive_entry_uid(e));
  auto gid = static_cast<gid_t>(archive_entry_gid(e));
  int r = fd >= 0 ? ::fchown(fd, uid, gid)
                  : ::fchownat(parent, base.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW);
  if (r != 0) return ErrnoError(errno, "chown");
  // After chown, which clears setuid/setgid bits and file capabilities.
  mode_t perm = archive_entry_perm(e) & 07777;
  if (type != AE_IFLNK) {
    r = fd >= 0 ? ::fchmod(fd, perm) : ::fchmodat(parent, base.c_str(), perm, AT_SYMLINK_NOFOLLOW);
    if (r != 0) return ErrnoError(errno, "chmod");
  }
  CB_TRY(SetXattrs(parent, base, fd, e));
  if (type == AE_IFDIR) return Ok();  // directory times are set last (children touch them)
  struct timespec ts[2];
  EntryTimes(e, ts);
  r = fd >= 0 ? ::futimens(fd, ts) : ::utimensat(parent, base.c_str(), ts, AT_SYMLINK_NOFOLLOW);
  if (r != 0) return ErrnoError(errno, "set times");
  return Ok();
}

Status ApplyJob::SetXattrs(int parent, const std::string& base, int fd, archive_entry* e) {
  if (archive_entry_xattr_reset(e) == 0) return Ok();
  const char* name;
  const void* value;
  size_t size;
  std::string proc = fd >= 0 ? std::string() : tar::ProcPath(parent, base);
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    // overlayfs reads its own trusted.overlay.* attributes from layer dirs: never from a tar.
    if (StartsWith(name, kOverlayXattrPrefix)) continue;
    int r = fd >= 0 ? ::fsetxattr(fd, name, value, size, 0)
                    : ::lsetxattr(proc.c_str(), name, value, size, 0);
    if (r == 0 || errno == ENOTSUP) continue;
    if (errno == EPERM && StartsWith(name, "user.") && fd < 0) continue;  // not on symlinks
    return ErrnoError(errno, fmt::format("set xattr {}", name));
  }
  return Ok();
}

Status ApplyJob::FinishDirs() {
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
    UniqueFd fd(tar::OpenInRoot(root_fd_.get(), it->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
    if (!fd) continue;  // replaced or removed by a later entry
    if (::futimens(fd.get(), it->times) != 0) {
      return EntryError(it->path.empty() ? "." : it->path, ErrnoError(errno, "set times"));
    }
  }
  return Ok();
}

Result<ApplyResult> ApplyJob::Run() {
  root_fd_.reset(::open(target_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd_) return ErrnoError(errno, fmt::format("apply layer: open `{}`", target_));
  CB_TRY(OpenReader());
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(tar_.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      return EntryError(entry_, ReaderError(entry_.empty() ? "read first header" : "read next header"));
    }
    const char* name = archive_entry_pathname(e);
    if (name == nullptr) return EntryError(entry_, ReaderError("entry without a name"));
    entry_ = name;
    Status s = ApplyEntry(e);
    if (!s) return EntryError(entry_, s.error());
  }
  entry_.clear();
  Status drained = stream_.Drain();
  if (!drained) return MakeError(drained.error().code, "apply layer to `{}`: {}", target_,
                                 drained.error().message);
  CB_TRY(FinishDirs());
  ApplyResult result;
  result.diff_id = stream_.Finish();
  result.uncompressed_bytes = stream_.bytes();
  if (opts_.expected_diff_id && *opts_.expected_diff_id != result.diff_id) {
    return MakeError(ErrorCode::kCorrupt,
                     "apply layer to `{}`: diff_id mismatch: expected {}, got {}", target_,
                     opts_.expected_diff_id->ToString(), result.diff_id.ToString());
  }
  return result;
}

class TarApplier : public Applier {
 public:
  Result<ApplyResult> Apply(int in_fd, const std::string& target_dir,
                            const ApplyOptions& opts) override {
    ApplyJob job(in_fd, target_dir, opts);
    return job.Run();
  }
};

}  // namespace

std::unique_ptr<Applier> NewTarApplier() { return std::make_unique<TarApplier>(); }

}  // namespace cb::snapshotter
