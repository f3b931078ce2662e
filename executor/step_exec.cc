#include "executor/step_exec.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "common/cancel.h"
#include "common/env_list.h"
#include "common/path.h"
#include "common/fs.h"
#include "common/rooted.h"
#include "executor/copy_op.h"
#include "sandbox/host_mount.h"
#include "executor/user_db.h"
#include "planner/source_expand.h"

namespace cb::executor {

using store::Store;
using sandbox::SandboxSpec;
using sandbox::ScopedMount;
using sandbox::NetworkMode;
namespace {

using planner::Step;
using planner::StepKind;

/// A read-only overlay of some layers, mounted in cbuild's private namespace; unmounted and
/// removed on destruction.
class MountedView {
 public:
  static Result<std::unique_ptr<MountedView>> Open(Store& store, const std::vector<Digest>& layers) {
    std::unique_ptr<MountedView> v(new MountedView());
    v->dir_ = CB_TRY(fs::MakeTempDir(store.root() + "/active", std::to_string(::getpid()) + "-view-"));
    auto m = CB_TRY(store.snapshots().View(layers));
    v->mount_ = std::make_unique<ScopedMount>(CB_TRY(ScopedMount::Mount(m, v->dir_)));
    v->root_ = CB_TRY(rooted::OpenRoot(v->dir_));
    return v;
  }
  ~MountedView() {
    root_.reset();
    mount_.reset();
    ::rmdir(dir_.c_str());
  }
  const std::string& dir() const { return dir_; }
  int fd() const { return root_.get(); }

 private:
  MountedView() = default;
  std::string dir_;
  std::unique_ptr<ScopedMount> mount_;
  UniqueFd root_;
};

constexpr size_t kMaxOutputLine = 64 * 1024;

/// Streams the sandbox's output lines to progress while it runs.
Result<int> RunWithOutput(StepContext& ctx, const Step& s, SandboxSpec& spec) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe");
  UniqueFd rd(fds[0]), wr(fds[1]);
  spec.stdout_fd = wr.get();
  spec.stderr_fd = wr.get();
  std::thread reader([&] {
    std::string buf;
    char chunk[4096];
    for (;;) {
      ssize_t n = ::read(rd.get(), chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      buf.append(chunk, static_cast<size_t>(n));
      size_t nl;
      size_t from = 0;
      while ((nl = buf.find('\n', from)) != std::string::npos) {
        ctx.progress.Output(s.number, buf.substr(from, nl - from));
        from = nl + 1;
      }
      buf.erase(0, from);
      // A line that never ends (a progress bar redrawn with \r) is passed on in pieces, so
      // memory stays bounded whatever the step prints.
      if (buf.size() >= kMaxOutputLine) {
        ctx.progress.Output(s.number, buf);
        buf.clear();
      }
    }
    if (!buf.empty()) ctx.progress.Output(s.number, buf);
  });
  auto status = ctx.sandbox.Run(spec);
  wr.reset();
  reader.join();
  if (!status) return std::move(status).error();
  return status->code;
}

/// Makes a cache mount directory with the mount's mode/uid/gid unless it exists (atomically:
/// a temp dir renamed into place; when another build made it first, theirs is kept).
Status EnsureCacheDir(StepContext& ctx, const planner::RunMount& m, const std::string& dir) {
  if (fs::Exists(dir)) return Ok();
  std::string parent = ctx.store.root() + "/cache-mounts";
  CB_TRY(fs::MakeDirs(parent));
  std::string tmp = CB_TRY(fs::MakeTempDir(parent, "new-"));
  ::chmod(tmp.c_str(), m.mode.value_or(0755));
  if (::chown(tmp.c_str(), m.uid.value_or(0), m.gid.value_or(0)) != 0) {
    int err = errno;
    (void)fs::RemoveTree(tmp);
    return ErrnoError(err, fmt::format("chown cache mount `{}`", tmp));
  }
  // NOREPLACE: a plain rename would swap out an empty cache another step just made and locked.
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dir.c_str(), RENAME_NOREPLACE) != 0) {
    int err = errno;
    (void)fs::RemoveTree(tmp);
    if (err != EEXIST) return ErrnoError(err, fmt::format("create cache mount `{}`", dir));
  }
  return Ok();
}

/// A cache mount directory claimed for one step: the flock on it is held until the step ends.
struct CacheClaim {
  std::string dir;
  UniqueFd lock;
};

Result<UniqueFd> OpenCacheLock(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return ErrnoError(errno, fmt::format("open cache mount `{}`", dir));
  return fd;
}

/// Claims the cache of `m.id` (<root>/cache-mounts/<sha256(id)>, shared by every build on this
/// store) as its sharing mode says:
///   shared  — a shared flock: any number of steps use it at once;
///   locked  — an exclusive flock, waiting until every other user has finished;
///   private — the first instance nobody uses (<hex>, <hex>.1, <hex>.2, ...), a new empty one
///             when all are in use; instances stay for later builds, as BuildKit's.
Result<CacheClaim> ClaimCache(StepContext& ctx, const planner::RunMount& m) {
  std::string base = ctx.store.root() + "/cache-mounts/" + Sha256Of(m.id).Hex();
  if (m.sharing == planner::MountSharing::kPrivate) {
    constexpr int kMaxInstances = 64;
    for (int i = 0; i < kMaxInstances; ++i) {
      std::string dir = i == 0 ? base : fmt::format("{}.{}", base, i);
      CB_TRY(EnsureCacheDir(ctx, m, dir));
      UniqueFd fd = CB_TRY(OpenCacheLock(dir));
      if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return CacheClaim{dir, std::move(fd)};
      if (errno != EWOULDBLOCK && errno != EINTR) return ErrnoError(errno, fmt::format("lock cache mount `{}`", dir));
    }
    return MakeError(ErrorCode::kFailed, "cache mount `{}`: all {} private instances are in use", m.id, kMaxInstances);
  }
  CB_TRY(EnsureCacheDir(ctx, m, base));
  UniqueFd fd = CB_TRY(OpenCacheLock(base));
  int op = m.sharing == planner::MountSharing::kLocked ? LOCK_EX : LOCK_SH;
  while (::flock(fd.get(), op) != 0) {
    if (errno != EINTR) return ErrnoError(errno, fmt::format("lock cache mount `{}`", base));
  }
  return CacheClaim{base, std::move(fd)};
}

/// Claims every cache id the step mounts once (the first mount of an id decides its sharing),
/// in id order, so that steps waiting on each other's locks can never deadlock.
Result<std::map<std::string, CacheClaim>> ClaimCaches(StepContext& ctx, const Step& s) {
  std::map<std::string, const planner::RunMount*> first;
  for (const auto& m : s.mounts)
    if (m.type == planner::MountType::kCache) first.emplace(m.id, &m);
  std::map<std::string, CacheClaim> claims;
  for (const auto& [id, m] : first) claims.emplace(id, CB_TRY(ClaimCache(ctx, *m)));
  return claims;
}

struct RunResources {
  std::vector<std::unique_ptr<MountedView>> views;
  std::map<std::string, CacheClaim> caches;  ///< by id; the locks are released with this
  std::vector<std::string> temp_dirs;
  ~RunResources() {
    views.clear();
    for (const auto& d : temp_dirs) (void)fs::RemoveTree(d);
  }
};

/// RUN --mount=type=bind: the context or a stage/image root, read-only, or with writes
/// discarded (rw: an overlay with a throwaway upper).
Status AddBindMount(StepContext& ctx, const planner::RunMount& m, SandboxSpec& spec, RunResources& res) {
  std::string src_dir;
  if (m.from.empty()) {
    src_dir = ctx.context_dir;
  } else {
    auto layers = CB_TRY(SourceLayers(ctx, m.from_stage, m.from));
    res.views.push_back(CB_TRY(MountedView::Open(ctx.store, layers)));
    src_dir = res.views.back()->dir();
  }
  std::string src = src_dir + "/" + path::RelativeToRoot(m.source);
  if (!fs::Exists(src)) return MakeError(ErrorCode::kNotFound, "RUN --mount: source `{}` not found", m.source);
  if (m.readwrite) {
    // Writes allowed, then discarded: an overlay with a throwaway upper.
    std::string tmp = CB_TRY(fs::MakeTempDir(ctx.store.root() + "/active", std::to_string(::getpid()) + "-rw-"));
    res.temp_dirs.push_back(tmp);
    CB_TRY(fs::MakeDirs(tmp + "/u"));
    CB_TRY(fs::MakeDirs(tmp + "/w"));
    spec.mounts.push_back({"overlay", "overlay", m.target,
                           {"lowerdir=" + src, "upperdir=" + tmp + "/u", "workdir=" + tmp + "/w"}});
  } else {
    spec.mounts.push_back({"bind", src, m.target, {"rbind", "ro"}});
  }
  return Ok();
}

/// RUN --mount=type=secret: a private copy of the secret file, and/or an env var.
Status AddSecretMount(StepContext& ctx, const planner::RunMount& m, SandboxSpec& spec, RunResources& res) {
  if (!ctx.secrets || !ctx.secrets->count(m.id)) {
    if (m.required) return MakeError(ErrorCode::kNotFound, "secret `{}` is required but was not given (--secret id={},src=...)", m.id, m.id);
    return Ok();
  }
  auto it = ctx.secrets->find(m.id);
  if (!m.env.empty()) {
    std::string value = CB_TRY(fs::ReadFile(it->second));
    spec.env.push_back(m.env + "=" + value);
  }
  if (!m.target.empty()) {
    std::string tmp = CB_TRY(fs::MakeTempDir(ctx.store.root() + "/active", std::to_string(::getpid()) + "-secret-"));
    res.temp_dirs.push_back(tmp);
    ::chmod(tmp.c_str(), 0700);
    std::string copy = tmp + "/" + Sha256Of(m.id).Short();
    CB_TRY(fs::WriteFileAtomic(copy, CB_TRY(fs::ReadFile(it->second)), m.mode.value_or(0400)));
    if (::chown(copy.c_str(), m.uid.value_or(0), m.gid.value_or(0)) != 0) return ErrnoError(errno, "chown secret");
    spec.mounts.push_back({"bind", copy, m.target, {"bind", "ro"}});
  }
  return Ok();
}

/// RUN --mount=... → sandbox mounts (and env for secrets).
Status AddRunMounts(StepContext& ctx, const Step& s, SandboxSpec& spec, RunResources& res) {
  res.caches = CB_TRY(ClaimCaches(ctx, s));
  for (const auto& m : s.mounts) {
    switch (m.type) {
      case planner::MountType::kCache:
        spec.mounts.push_back({"bind", res.caches.at(m.id).dir, m.target, {"rbind"}});
        break;
      case planner::MountType::kTmpfs: {
        std::vector<std::string> o = {"mode=1777"};
        if (m.size > 0) o.push_back(fmt::format("size={}", m.size));
        spec.mounts.push_back({"tmpfs", "tmpfs", m.target, o});
        break;
      }
      case planner::MountType::kBind:
        CB_TRY(AddBindMount(ctx, m, spec, res));
        break;
      case planner::MountType::kSecret:
        CB_TRY(AddSecretMount(ctx, m, spec, res));
        break;
      case planner::MountType::kSsh:
        return MakeError(ErrorCode::kUnsupported, "RUN --mount=type=ssh is not supported");
    }
  }
  return Ok();
}

}  // namespace

Result<Identity> IdentityIn(snapshotter::ActiveSnapshot& snap, const std::string& user, bool chown) {
  if (user.empty()) return Identity{};
  bool numeric = user.find_first_not_of("0123456789:") == std::string::npos;
  if (numeric && !chown && user.find(':') != std::string::npos) {
    Identity id;
    id.uid = static_cast<unsigned>(std::stoul(user.substr(0, user.find(':'))));
    id.gid = static_cast<unsigned>(std::stoul(user.substr(user.find(':') + 1)));
    return id;
  }
  auto mnt = CB_TRY(ScopedMount::Mount(snap.RootMount(), snap.rootfs()));
  UniqueFd root = CB_TRY(rooted::OpenRoot(snap.rootfs()));
  auto id = chown ? ResolveChown(root.get(), user) : ResolveUser(root.get(), user);
  root.reset();
  CB_TRY(mnt.Unmount());
  return id;
}

namespace {

Status ExecRun(StepContext& ctx, const Step& s, snapshotter::ActiveSnapshot& snap) {
  Identity id = CB_TRY(IdentityIn(snap, s.user, false));
  SandboxSpec spec;
  spec.mounts = {snap.RootMount()};
  spec.rootfs_dir = snap.rootfs();
  spec.argv = s.argv;
  spec.env = s.env;
  if (!env::Has(spec.env, "PATH")) spec.env.push_back(env::DefaultPathEntry());
  // As runc does for BuildKit: HOME from the image's /etc/passwd when the env has none.
  if (!env::Has(spec.env, "HOME")) spec.env.push_back("HOME=" + (s.user.empty() ? std::string("/root") : id.home));
  spec.cwd = s.config.working_dir.empty() ? "/" : s.config.working_dir;
  spec.uid = id.uid;
  spec.gid = id.gid;
  spec.extra_gids = id.extra_gids;
  spec.network = s.network;
  RunResources res;
  CB_TRY(AddRunMounts(ctx, s, spec, res));
  cancel::Subscription cancelled;  // SIGINT/SIGTERM to cbuild stop the step (common/cancel.h)
  spec.cancel_fd = cancelled.fd();
  spec.stop_timeout_ms = cancel::kStopTimeoutMs;
  int code = CB_TRY(RunWithOutput(ctx, s, spec));
  CB_TRY(cancel::Check());
  if (code != 0) {
    std::string cmd;
    for (const auto& a : s.argv) cmd += (cmd.empty() ? "" : " ") + a;
    Error e = MakeError(ErrorCode::kStepFailed, "{}: process \"{}\" did not complete successfully: exit code: {}",
                        s.text, cmd, code);
    e.exit_code = code;
    return e;
  }
  return Ok();
}

/// ADD <url>: the download (fetched now unless the key computation did), checked against --checksum.
Result<CopyRequest::RemoteFile> RemoteSource(Downloads& downloads, const planner::CopySpec& c, const std::string& url) {
  std::optional<Digest> want;
  if (!c.checksum.empty()) want = CB_TRY(Digest::Parse(c.checksum));
  const Download* d = CB_TRY(downloads.Fetch(url, want));
  // Without Last-Modified, BuildKit uses the epoch; cbuild's layer times start at SOURCE_DATE_EPOCH or 0.
  int64_t mtime = d->last_modified.value_or(Store::LayerDiffOptions().clamp_mtime.value_or(0));
  return CopyRequest::RemoteFile{d->path, UrlFileName(url), mtime};
}

Status ExecCopy(StepContext& ctx, const Step& s, snapshotter::ActiveSnapshot& snap, Downloads& downloads,
                const CopyReuse* reuse, int64_t* linked) {
  const planner::CopySpec& c = s.copy;
  std::unique_ptr<MountedView> src_view;
  int src_fd = ctx.context_fd;
  if (!c.from.empty()) {
    auto layers = CB_TRY(SourceLayers(ctx, c.from_stage, c.from));
    src_view = CB_TRY(MountedView::Open(ctx.store, layers));
    src_fd = src_view->fd();
  }
  auto mnt = CB_TRY(ScopedMount::Mount(snap.RootMount(), snap.rootfs()));
  UniqueFd root = CB_TRY(rooted::OpenRoot(snap.rootfs()));
  CopyRequest cr;
  cr.context_fd = src_fd;
  if (c.from.empty()) {
    cr.ignore = ctx.ignore;
    cr.sources = s.context_sources;  // expanded when the plan's keys were computed: hashed = copied
  } else {
    // A stage's or an image's root, known only now: the same expander on that root.
    cr.sources = CB_TRY_CTX(planner::ExpandSources(src_fd, c.sources, nullptr, !c.heredocs.empty()), "COPY --from={}",
                            c.from);
  }
  for (const auto& src : cr.sources)
    if (c.add && planner::IsRemoteUrl(src)) cr.remote[src] = CB_TRY(RemoteSource(downloads, c, src));
  cr.dest = c.dest.size() > 1 && c.dest.back() == '/' ? c.dest.substr(0, c.dest.size() - 1) : c.dest;
  cr.dest_is_dir = !c.dest.empty() && c.dest.back() == '/';
  cr.chmod = c.chmod;
  cr.excludes = c.excludes;
  cr.parents = c.parents;
  cr.add = c.add;
  cr.warn = [&](const std::string& m) { ctx.progress.Output(s.number, "warning: " + m); };
  for (const auto& h : c.heredocs) cr.inline_files.emplace_back(h.name, h.content);
  if (!c.chown.empty()) {
    Identity id = CB_TRY(ResolveChown(root.get(), c.chown));
    cr.uid = id.uid;
    cr.gid = id.gid;
  }
  CopyPlan plan;
  cr.reuse = c.from.empty() && !c.add ? reuse : nullptr;
  CB_TRY(CopyFromContext(cr, root.get(), cr.reuse ? &plan : nullptr));
  root.reset();
  CB_TRY(mnt.Unmount());
  if (plan.pending.empty()) return Ok();
  // The unchanged files, straight into the upper dir now that no overlay is mounted over it.
  UniqueFd upper = CB_TRY(rooted::OpenRoot(snap.upper()));
  CB_TRY(LinkUnchanged(cr, plan, upper.get()));
  if (linked) *linked = plan.linked;
  return Ok();
}

Status ExecWorkdir(const Step& s, snapshotter::ActiveSnapshot& snap) {
  auto mnt = CB_TRY(ScopedMount::Mount(snap.RootMount(), snap.rootfs()));
  UniqueFd root = CB_TRY(rooted::OpenRoot(snap.rootfs()));
  Identity id;
  if (!s.user.empty()) {
    auto r = ResolveUser(root.get(), s.user);
    if (r) id = *r;
  }
  auto existing = rooted::Open(root.get(), s.workdir, O_RDONLY | O_DIRECTORY);
  if (!existing) CB_TRY(rooted::MkdirAll(root.get(), s.workdir, 0755, id.uid, id.gid));
  root.reset();
  return mnt.Unmount();
}

}  // namespace

Result<std::vector<Digest>> SourceLayers(StepContext& ctx, int from_stage, const std::string& from_ref) {
  if (from_stage >= 0) return ctx.stage(from_stage);
  auto img = ctx.store.images().Resolve(from_ref);
  if (!img) return MakeError(img.error().code, "image `{}`: {}", from_ref, img.error().message);
  CB_TRY(ctx.store.EnsureSnapshots(*img));
  return img->config.diff_ids;
}

Result<std::optional<cache::LayerRecord>> ExecuteStep(StepContext& ctx, const Step& s,
                                                      const std::vector<Digest>& parents, Downloads& downloads,
                                                      const CopyReuse* reuse, int64_t* linked) {
  auto snap = CB_TRY(ctx.store.snapshots().Prepare(parents));
  switch (s.kind) {
    case StepKind::kRun:
      CB_TRY(ExecRun(ctx, s, *snap));
      break;
    case StepKind::kCopy:
      CB_TRY(ExecCopy(ctx, s, *snap, downloads, reuse, linked));
      break;
    case StepKind::kWorkdir:
      CB_TRY(ExecWorkdir(s, *snap));
      break;
    default:
      return std::optional<cache::LayerRecord>();
  }
  return ctx.store.CommitLayer(*snap);
}

}  // namespace cb::executor
