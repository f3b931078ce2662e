#include "executor/copy_op.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <thread>

#include "common/cancel.h"
#include "common/path.h"
#include "common/rooted.h"
#include "common/unique_fd.h"
#include "snapshotter/applier.h"

namespace cb::executor {
namespace {

/// Copies `in` to `out`: in the kernel (sendfile: no copy through user space) until `size`
/// bytes (the source's stat size) are in or the source ends; read/write where sendfile cannot.
Status CopyData(int in, int out, int64_t size, const std::string& what) {
  int64_t total = 0;
  for (;;) {
    CB_TRY(cancel::Check());  // checked every 32 MiB at most: a big COPY stops on SIGINT/SIGTERM
    size_t want = static_cast<size_t>(std::max<int64_t>(size - total, int64_t{1} << 20));
    want = std::min<size_t>(want, size_t{32} << 20);
    ssize_t n = ::sendfile(out, in, nullptr, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && total == 0 && (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) break;
    if (n < 0) return ErrnoError(errno, fmt::format("copy `{}`", what));
    if (n == 0) return Ok();
    total += n;
    // Short once the stat size is in: the end (an unknown size, 0, reads on to the end).
    if (size > 0 && total >= size && static_cast<size_t>(n) < want) return Ok();
  }
  char buf[1 << 16];
  for (;;) {
    CB_TRY(cancel::Check());  // a big COPY stops on SIGINT/SIGTERM
    ssize_t n = ::read(in, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, fmt::format("read `{}`", what));
    }
    if (n == 0) return Ok();
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(out, buf + off, static_cast<size_t>(n - off));
      if (w < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(errno, fmt::format("write `{}`", what));
      }
      off += w;
    }
  }
}

/// Removes whatever non-directory sits at dir/name so a new entry can take its place.
void ClearSlot(int dir_fd, const std::string& name) {
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
    ::unlinkat(dir_fd, name.c_str(), 0);
}

unsigned ModeFor(const CopyRequest& req, mode_t st_mode) {
  return req.chmod ? *req.chmod : (st_mode & 07777);
}

/// Writes dir/name from `src_fd`, or from `content` when src_fd is -1.
Status WriteFile(int src_fd, const struct stat& st, int dir_fd, const std::string& name,
                 const std::string& what, const CopyRequest& req, std::string_view content = {}) {
  // Usually nothing is there yet: try an exclusive create before looking.
  UniqueFd out(::openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out && errno == EEXIST) {
    ClearSlot(dir_fd, name);
    out.reset(::openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  }
  if (!out) return ErrnoError(errno, fmt::format("create `{}`", what));
  if (src_fd >= 0) {
    CB_TRY(CopyData(src_fd, out.get(), S_ISREG(st.st_mode) ? st.st_size : 0, what));
  } else {
    CB_TRY(WriteAll(out.get(), content, what));
  }
  if (::fchown(out.get(), req.uid, req.gid) != 0) return ErrnoError(errno, fmt::format("chown `{}`", what));
  if (::fchmod(out.get(), ModeFor(req, st.st_mode)) != 0) return ErrnoError(errno, fmt::format("chmod `{}`", what));
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  ::futimens(out.get(), ts);
  return Ok();
}

/// A FIFO, device node or socket found at context path `what`: FIFOs and devices are made anew
/// at dir/name (never opened, as BuildKit's copy does), a socket is skipped with a warning (a
/// layer cannot hold one; the context hasher leaves it out of the key likewise).
Status CopySpecial(const struct stat& st, int dir_fd, const std::string& name, const std::string& target,
                   const std::string& what, const CopyRequest& req) {
  if (S_ISSOCK(st.st_mode)) {
    if (req.warn) req.warn(fmt::format("`{}` is a socket: skipped", what));
    return Ok();
  }
  if (!S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
    return MakeError(ErrorCode::kUnsupported, "`{}` is {}: cannot be copied", what, rooted::FileTypeName(st.st_mode));
  ClearSlot(dir_fd, name);
  dev_t dev = S_ISFIFO(st.st_mode) ? 0 : st.st_rdev;
  if (::mknodat(dir_fd, name.c_str(), (st.st_mode & S_IFMT) | 0600, dev) != 0)
    return ErrnoError(errno, fmt::format("mknod `{}`", target));
  if (::fchownat(dir_fd, name.c_str(), req.uid, req.gid, AT_SYMLINK_NOFOLLOW) != 0)
    return ErrnoError(errno, fmt::format("chown `{}`", target));
  if (::fchmodat(dir_fd, name.c_str(), ModeFor(req, st.st_mode), 0) != 0)
    return ErrnoError(errno, fmt::format("chmod `{}`", target));
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  ::utimensat(dir_fd, name.c_str(), ts, AT_SYMLINK_NOFOLLOW);
  return Ok();
}

/// Opens the regular file `name` (lstat'ed as `st`) below `dir_fd` for copying: never a FIFO
/// or device swapped in since the walk (O_NONBLOCK|O_NOCTTY, then checked to be that file).
Result<UniqueFd> OpenWalkedFile(int dir_fd, const std::string& name, const struct stat& st, const std::string& what) {
  UniqueFd in(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!in) {
    if (errno == ELOOP) return MakeError(ErrorCode::kFailed, "context changed during build: {}", what);
    return ErrnoError(errno, fmt::format("open `{}`", what));
  }
  struct stat now;
  if (::fstat(in.get(), &now) != 0) return ErrnoError(errno, fmt::format("stat `{}`", what));
  if (!S_ISREG(now.st_mode) || now.st_ino != st.st_ino || now.st_dev != st.st_dev)
    return MakeError(ErrorCode::kFailed, "context changed during build: {}", what);
  return in;
}

/// The destination directory of the previous entry: a sorted walk mostly stays in one.
struct ParentCache {
  std::string path;
  UniqueFd fd;
  bool in_layer = false;  ///< made part of the new layer for a pending link (copied up)
};

/// dir/… inside `root_fd` as a real directory: no symlink anywhere on the way.
Result<UniqueFd> OpenRealDir(int root_fd, const std::string& rel) {
  struct open_how how = {};
  how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  std::string p = rel.empty() ? "." : rel;
  for (;;) {
    long fd = ::syscall(SYS_openat2, root_fd, p.c_str(), &how, sizeof how);
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    if (errno != EINTR && errno != EAGAIN) return ErrnoError(errno, fmt::format("open `{}`", rel));
  }
}

/// With reuse, pending links are matched to later writes by their target path: that is only
/// sound when every target is written where its path says — a clean path whose directories
/// are no symlinks (else two strings could name one file). Checked for each write (once per
/// directory); a target that is not plain is an error, and the step is then copied in full.
/// A write to a target cancels an earlier pending link to it (the later source wins).
Status Claim(const CopyRequest& req, CopyPlan* plan, int root_fd, const std::string& target, bool pending) {
  if (!plan || !req.reuse) return Ok();
  std::string parent = target.substr(0, target.rfind('/'));
  if (parent.empty()) parent = "/";
  if (!path::IsCleanAbsolute(target))
    return MakeError(ErrorCode::kUnsupported, "COPY reuse: destination `{}` is not a clean path", target);
  if (parent != plan->plain_dir) {
    if (auto dir = OpenRealDir(root_fd, parent.substr(1)); !dir)
      return MakeError(dir.error().code, "COPY reuse: destination directory `{}` is not plain: {}", parent,
                       dir.error().message);
    plan->plain_dir = parent;
  }
  if (!pending && !plan->pending.empty()) plan->pending.erase(target);
  return Ok();
}

/// Copies one entry found below a source directory to dest_base/rel; `ctx_path` is its path
/// as the context hasher lists it.
Status CopyEntry(const rooted::WalkEntry& e, int root_fd, const std::string& dest_base, const CopyRequest& req,
                 ParentCache& parent_dir, const std::string& ctx_path, CopyPlan* plan) {
  std::string target = dest_base + "/" + e.rel;
  std::string parent = target.substr(0, target.rfind('/'));
  if (!parent_dir.fd || parent_dir.path != parent) {
    parent_dir.fd = CB_TRY(rooted::Open(root_fd, parent.empty() ? "/" : parent, O_RDONLY | O_DIRECTORY));
    parent_dir.path = parent;
    parent_dir.in_layer = false;
  }
  const UniqueFd& dir = parent_dir.fd;
  const char* name = e.name.c_str();
  if (plan && req.reuse && S_ISREG(e.st.st_mode) && req.reuse->same.count(ctx_path)) {
    CB_TRY(Claim(req, plan, root_fd, target, true));
    if (!parent_dir.in_layer) {
      // Writing a file here would copy the directory up into the new layer; so does a chown
      // to its current owner (overlayfs copies up on any attribute change), and nothing else
      // about it changes.
      struct stat dst;
      if (::fstat(dir.get(), &dst) != 0 || ::fchown(dir.get(), dst.st_uid, dst.st_gid) != 0)
        return ErrnoError(errno, fmt::format("copy up `{}`", parent.empty() ? "/" : parent));
      parent_dir.in_layer = true;
    }
    plan->pending[target] = CopyPlan::Pending{ctx_path, e.st};
    return Ok();
  }
  CB_TRY(Claim(req, plan, root_fd, target, false));
  if (S_ISDIR(e.st.st_mode)) {
    ClearSlot(dir.get(), e.name);
    if (::mkdirat(dir.get(), name, 0700) != 0 && errno != EEXIST)
      return ErrnoError(errno, fmt::format("mkdir `{}`", target));
    ::fchownat(dir.get(), name, req.uid, req.gid, AT_SYMLINK_NOFOLLOW);
    if (::fchmodat(dir.get(), name, ModeFor(req, e.st.st_mode), 0) != 0)
      return ErrnoError(errno, fmt::format("chmod `{}`", target));
  } else if (S_ISREG(e.st.st_mode)) {
    UniqueFd in = CB_TRY(OpenWalkedFile(e.parent_fd, e.name, e.st, ctx_path));
    CB_TRY(WriteFile(in.get(), e.st, dir.get(), e.name, target, req));
  } else if (S_ISLNK(e.st.st_mode)) {
    char buf[4096];
    ssize_t n = ::readlinkat(e.parent_fd, name, buf, sizeof buf - 1);
    if (n < 0) return ErrnoError(errno, fmt::format("readlink `{}`", e.rel));
    buf[n] = '\0';
    ClearSlot(dir.get(), e.name);
    if (::symlinkat(buf, dir.get(), name) != 0) return ErrnoError(errno, fmt::format("symlink `{}`", target));
    ::fchownat(dir.get(), name, req.uid, req.gid, AT_SYMLINK_NOFOLLOW);
  } else {
    CB_TRY(CopySpecial(e.st, dir.get(), e.name, target, ctx_path, req));
  }
  return Ok();
}

bool IsDirInRoot(int root_fd, const std::string& path) {
  return rooted::Open(root_fd, path, O_RDONLY | O_DIRECTORY).has_value();
}

/// Local archives that ADD extracts: tar, optionally gzip/bzip2/xz/zstd compressed.
bool LooksLikeArchive(int fd) {
  unsigned char b[512];
  ssize_t n = ::pread(fd, b, sizeof b, 0);
  if (n < 6) return false;
  if (b[0] == 0x1f && b[1] == 0x8b) return true;
  if (b[0] == 'B' && b[1] == 'Z' && b[2] == 'h') return true;
  if (b[0] == 0xfd && b[1] == '7' && b[2] == 'z' && b[3] == 'X' && b[4] == 'Z' && b[5] == 0) return true;
  if (b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd) return true;
  return n >= 262 && std::string_view(reinterpret_cast<char*>(b) + 257, 5) == "ustar";
}

std::string Trimmed(const std::string& src) {
  std::string s = src;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

/// Writes one file (from `src_fd`, or `content` when it is -1) as dest, or as dest/<name> when
/// dest is a directory; missing parents are created.
Status WriteNamed(const CopyRequest& req, int root_fd, const std::string& name, bool dest_dir, int src_fd,
                  const struct stat& st, CopyPlan* plan, std::string_view content = {}) {
  std::string target = dest_dir ? (req.dest == "/" ? "" : req.dest) + "/" + name : req.dest;
  size_t slash = target.rfind('/');
  UniqueFd dir = CB_TRY(rooted::MkdirAll(root_fd, slash == 0 ? "/" : target.substr(0, slash), 0755, req.uid, req.gid));
  CB_TRY(Claim(req, plan, root_fd, target, false));
  return WriteFile(src_fd, st, dir.get(), target.substr(slash + 1), target, req, content);
}

/// A downloaded file: mode 0600 (BuildKit's, unless --chmod), the download's mtime.
Status CopyRemote(const CopyRequest& req, int root_fd, const CopyRequest::RemoteFile& f, bool dest_dir,
                  CopyPlan* plan) {
  UniqueFd in(::open(f.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return ErrnoError(errno, fmt::format("open `{}`", f.path));
  struct stat st = {};
  st.st_mode = S_IFREG | 0600;
  st.st_mtim.tv_sec = f.mtime;
  st.st_atim = st.st_mtim;
  return WriteNamed(req, root_fd, f.name, dest_dir, in.get(), st, plan);
}

/// Whether a walk of a source directory copies an entry, and walks below it: .dockerignore
/// (paths relative to the context) and --exclude (relative to the source directory) with
/// BuildKit's matcher. An excluded directory is skipped, unless an exception may re-include
/// something below it: then it is walked, and made only once something below it is copied.
struct WalkFilter {
  const planner::IgnoreMatcher* ignore;   ///< may be null
  const planner::IgnoreMatcher* exclude;  ///< may be null
  std::vector<rooted::WalkEntry> pending; ///< excluded directories above the current entry, not made yet

  /// False: leave the entry out (and, for a directory, its subtree when `descend` is false).
  bool Copies(const rooted::WalkEntry& e, const std::string& ctx_path, bool* descend) {
    while (!pending.empty() && e.rel.compare(0, pending.back().rel.size() + 1, pending.back().rel + "/") != 0)
      pending.pop_back();
    bool ignored = ignore && ignore->Excluded(ctx_path);
    bool excluded = exclude && exclude->Excluded(e.rel);
    *descend = true;
    if (!ignored && !excluded) return true;
    *descend = S_ISDIR(e.st.st_mode) && !((!ignored || ignore->CanSkipDir(ctx_path)) &&
                                          (!excluded || exclude->CanSkipDir(e.rel)));
    if (*descend) pending.push_back(e);
    return false;
  }
};

Status CopyOne(const CopyRequest& req, int root_fd, const std::string& src, bool dest_dir, CopyPlan* plan,
               const planner::IgnoreMatcher* exclude) {
  if (auto r = req.remote.find(src); r != req.remote.end()) return CopyRemote(req, root_fd, r->second, dest_dir, plan);
  struct stat st;
  auto in = rooted::OpenForRead(req.context_fd, src, &st);  // a FIFO or device: O_PATH, never opened
  if (!in) {
    if (in.error().code == ErrorCode::kNotFound)
      return MakeError(ErrorCode::kNotFound, "source `{}` not found", src);
    return std::move(in).error();
  }
  std::string base = req.dest == "/" ? "" : req.dest;
  if (req.parents && !path::RelativeToRoot(src).empty()) {
    std::string rel = path::RelativeToRoot(src);
    base += "/" + (S_ISDIR(st.st_mode) ? rel : rel.substr(0, rel.rfind('/') == std::string::npos ? 0 : rel.rfind('/')));
    while (base.size() > 1 && base.back() == '/') base.pop_back();
  }
  if (S_ISDIR(st.st_mode)) {
    CB_TRY(rooted::MkdirAll(root_fd, base.empty() ? "/" : base, 0755, req.uid, req.gid));
    std::string prefix = path::RelativeToRoot(src);
    ParentCache parent_dir;
    WalkFilter filter{req.ignore && !req.ignore->empty() ? req.ignore : nullptr, exclude, {}};
    return rooted::WalkSelect(in->get(), [&](const rooted::WalkEntry& e) -> Result<bool> {
      std::string ctx_path = prefix.empty() ? e.rel : prefix + "/" + e.rel;
      bool descend;
      if (!filter.Copies(e, ctx_path, &descend)) return descend;
      for (const auto& dir : filter.pending) {  // the excluded directories that now hold something
        std::string dir_ctx = prefix.empty() ? dir.rel : prefix + "/" + dir.rel;
        CB_TRY(CopyEntry(dir, root_fd, base, req, parent_dir, dir_ctx, plan));
      }
      filter.pending.clear();
      CB_TRY(CopyEntry(e, root_fd, base, req, parent_dir, ctx_path, plan));
      return true;
    });
  }
  if (req.add && S_ISREG(st.st_mode) && LooksLikeArchive(in->get())) {
    if (plan && !plan->pending.empty())
      return MakeError(ErrorCode::kUnsupported, "ADD: an archive after files left for linking");
    UniqueFd dir = CB_TRY(rooted::MkdirAll(root_fd, base.empty() ? "/" : base, 0755, 0, 0));
    snapshotter::ApplyOptions o;
    o.overlay_whiteouts = false;
    std::string target = fmt::format("/proc/self/fd/{}", dir.get());
    CB_TRY_CTX(snapshotter::NewTarApplier()->Apply(in->get(), target, o), "ADD: extract `{}`", src);
    return Ok();
  }
  std::string target = base;
  if (dest_dir || req.parents) {
    std::string s = Trimmed(src);
    target = base + "/" + s.substr(s.find_last_of('/') + 1);
  }
  size_t slash = target.rfind('/');
  std::string parent = slash == 0 ? "/" : target.substr(0, slash);
  UniqueFd dir = CB_TRY(rooted::MkdirAll(root_fd, parent, 0755, req.uid, req.gid));
  CB_TRY(Claim(req, plan, root_fd, target, false));
  if (!S_ISREG(st.st_mode)) return CopySpecial(st, dir.get(), target.substr(slash + 1), target, path::RelativeToRoot(src), req);
  return WriteFile(in->get(), st, dir.get(), target.substr(slash + 1), target, req);
}

}  // namespace

Status WriteAll(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t w = ::write(fd, data.data(), data.size());
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return ErrnoError(errno, fmt::format("write `{}`", what));
    data.remove_prefix(static_cast<size_t>(w));
  }
  return Ok();
}


Status CopyFromContext(const CopyRequest& req, int root_fd, CopyPlan* plan) {
  size_t n = req.sources.size() + req.inline_files.size();
  bool dest_dir = req.dest_is_dir || n > 1 || IsDirInRoot(root_fd, req.dest);
  std::optional<planner::IgnoreMatcher> exclude;
  if (!req.excludes.empty())
    exclude = CB_TRY_CTX(planner::IgnoreMatcher::FromLines(req.excludes), "--exclude");
  for (const auto& src : req.sources) CB_TRY(CopyOne(req, root_fd, src, dest_dir, plan, exclude ? &*exclude : nullptr));
  for (const auto& [name, content] : req.inline_files) {
    struct stat st = {};
    st.st_mode = S_IFREG | 0644;
    CB_TRY(WriteNamed(req, root_fd, name, dest_dir, -1, st, plan, content));
  }
  return Ok();
}

namespace {

/// A directory fd per parent path, reused while consecutive targets share it.
struct DirCache {
  int root;
  std::string path;
  Result<UniqueFd> fd = UniqueFd();
  const Result<UniqueFd>& Get(const std::string& rel) {
    if (path != rel || !fd || !*fd) {
      fd = OpenRealDir(root, rel);
      path = rel;
    }
    return fd;
  }
};

}  // namespace

Status LinkUnchanged(const CopyRequest& req, CopyPlan& plan, int upper_fd) {
  if (plan.pending.empty()) return Ok();
  if (!req.reuse) return MakeError(ErrorCode::kInvalidArgument, "files left for linking but no previous layer");
  auto prev = rooted::OpenRoot(req.reuse->prev_dir);
  if (!prev) return std::move(prev).error();
  using Item = std::pair<const std::string, CopyPlan::Pending>;
  std::vector<const Item*> items;
  items.reserve(plan.pending.size());
  for (const auto& it : plan.pending) items.push_back(&it);

  // One contiguous run of targets (sorted, so mostly one directory after another).
  auto run = [&](size_t begin, size_t end, int64_t& linked, int64_t& copied) -> Status {
    DirCache upper{upper_fd, "", UniqueFd()}, before{prev->get(), "", UniqueFd()};
    for (size_t i = begin; i < end; ++i) {
      if (((i - begin) & 1023) == 1023) CB_TRY(cancel::Check());
      const std::string& target = items[i]->first;
      const CopyPlan::Pending& p = items[i]->second;
      std::string rel = target.substr(target.find_first_not_of('/'));
      size_t slash = rel.rfind('/');
      std::string parent = slash == std::string::npos ? "" : rel.substr(0, slash);
      std::string name = rel.substr(slash + 1);
      const auto& dir = upper.Get(parent);
      if (!dir) return MakeError(dir.error().code, "link `{}` into the new layer: {}", target, dir.error().message);
      const auto& old_dir = before.Get(parent);
      struct stat old;
      unsigned mode = req.chmod ? *req.chmod : (p.st.st_mode & 07777);
      bool same = old_dir && ::fstatat(old_dir->get(), name.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0 &&
                  S_ISREG(old.st_mode) && old.st_size == p.st.st_size && (old.st_mode & 07777) == mode &&
                  old.st_uid == req.uid && old.st_gid == req.gid && old.st_mtim.tv_sec == p.st.st_mtim.tv_sec &&
                  old.st_mtim.tv_nsec == p.st.st_mtim.tv_nsec;
      if (same) {
        int rc = ::linkat(old_dir->get(), name.c_str(), dir->get(), name.c_str(), 0);
        if (rc != 0 && errno == EEXIST) {  // written earlier in this COPY: the later source wins
          if (::unlinkat(dir->get(), name.c_str(), 0) != 0) return ErrnoError(errno, fmt::format("replace `{}`", target));
          rc = ::linkat(old_dir->get(), name.c_str(), dir->get(), name.c_str(), 0);
        }
        if (rc == 0) {
          ++linked;
          continue;
        }
        if (errno != EMLINK) return ErrnoError(errno, fmt::format("link `{}` into the new layer", target));
      }
      // Copied from the source as the first pass would have (the directory is in the upper
      // dir, so writing there is what the overlay would have done).
      struct stat st;
      UniqueFd in = CB_TRY(rooted::OpenForRead(req.context_fd, p.source, &st));
      if (!S_ISREG(st.st_mode)) return MakeError(ErrorCode::kFailed, "context changed during build: {}", p.source);
      CB_TRY(WriteFile(in.get(), st, dir->get(), name, target, req));
      ++copied;
    }
    return Ok();
  };

  // Linking is a few system calls per file: big trees are split over the cores.
  size_t parts = items.size() < 4096 ? 1 : std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 4);
  std::vector<Status> status(parts, Ok());
  std::vector<int64_t> linked(parts, 0), copied(parts, 0);
  std::vector<std::thread> workers;
  size_t per = (items.size() + parts - 1) / parts;
  auto part = [&](size_t k) {
    status[k] = run(std::min(items.size(), k * per), std::min(items.size(), (k + 1) * per), linked[k], copied[k]);
  };
  size_t k = 1;
  try {
    for (; k < parts; ++k) workers.emplace_back(part, k);
  } catch (const std::system_error&) {  // no thread to be had (e.g. a pids limit): the rest here
  }
  for (size_t rest = k; rest < parts; ++rest) part(rest);
  part(0);
  for (auto& w : workers) w.join();
  // A cancellation anywhere is what the caller must see (it is not retried).
  for (const auto& st : status)
    if (!st && st.error().code == ErrorCode::kCancelled) return st;
  for (size_t i = 0; i < parts; ++i) {
    CB_TRY(std::move(status[i]));
    plan.linked += linked[i];
    plan.copied += copied[i];
  }
  return Ok();
}

}  // namespace cb::executor
