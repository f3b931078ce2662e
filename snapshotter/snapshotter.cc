#include "snapshotter/snapshotter.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "common/fs.h"

namespace cb::snapshotter {
namespace {

std::string Join(const std::vector<std::string>& v, char sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

/// Active snapshot dirs are named "<pid>-<rand>"; a dir whose pid is dead is stale.
bool OwnerIsDead(const std::string& name) {
  long pid = std::strtol(name.c_str(), nullptr, 10);
  if (pid <= 0) return true;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

}  // namespace

ActiveSnapshot::~ActiveSnapshot() { (void)fs::RemoveTree(dir_); }

Mount ActiveSnapshot::RootMount() const {
  return Mount{"overlay", "overlay", "/",
               {"lowerdir=" + Join(lowers_, ':'), "upperdir=" + upper_, "workdir=" + work_}};
}

Result<std::unique_ptr<Snapshotter>> Snapshotter::Open(const std::string& root) {
  CB_TRY(fs::MakeDirs(root + "/snapshots/_empty"));
  CB_TRY(fs::MakeDirs(root + "/active"));
  CB_TRY(fs::MakeDirs(root + "/l"));
  std::string active = root + "/active";
  if (DIR* d = ::opendir(active.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      if (OwnerIsDead(name)) (void)fs::RemoveTree(active + "/" + name);
    }
    ::closedir(d);
  }
  // Layers being removed when a process died (RemoveLayer renames them into _trash/<pid>-…
  // first). Only dead processes' entries: a prune running now owns its own.
  std::string trash = root + "/snapshots/_trash";
  if (auto names = fs::ListDir(trash))
    for (const auto& name : *names)
      if (OwnerIsDead(name)) (void)fs::RemoveTree(trash + "/" + name);
  return std::unique_ptr<Snapshotter>(new Snapshotter(root));
}

Result<std::vector<Digest>> Snapshotter::ListLayers() const {
  std::vector<Digest> out;
  for (const auto& name : CB_TRY(fs::ListDir(root_ + "/snapshots")))
    if (auto dg = Digest::Parse("sha256:" + name)) out.push_back(*dg);
  return out;
}

Status Snapshotter::RemoveLayer(const Digest& diff_id) {
  std::string src = LayerPath(diff_id);
  ::unlink((root_ + "/l/" + diff_id.Hex().substr(0, 16)).c_str());
  if (!fs::Exists(src)) return Ok();
  CB_TRY(fs::MakeDirs(root_ + "/snapshots/_trash"));
  std::string dst = CB_TRY(fs::MakeTempDir(root_ + "/snapshots/_trash", std::to_string(::getpid()) + "-"));
  if (::rename(src.c_str(), (dst + "/layer").c_str()) != 0)
    return ErrnoError(errno, fmt::format("rename `{}` to `{}`", src, dst));
  return fs::RemoveTree(dst);
}

Snapshotter::Usage Snapshotter::DiskUsage(const std::string& path) {
  Usage u;
  auto visit = [&](auto& self, int dir_fd) -> void {
    DIR* d = ::fdopendir(dir_fd);
    if (!d) {
      ::close(dir_fd);
      return;
    }
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      struct stat st;
      if (::fstatat(::dirfd(d), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      int64_t bytes = static_cast<int64_t>(st.st_blocks) * 512;
      if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
        // Shared with other layers (COPY links unchanged files from the previous build).
        u.shared.push_back({static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                            static_cast<uint64_t>(st.st_nlink), bytes});
      } else {
        u.own += bytes;
      }
      if (S_ISDIR(st.st_mode)) {
        int sub = ::openat(::dirfd(d), n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) self(self, sub);
      }
    }
    ::closedir(d);
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) visit(visit, fd);
  return u;
}

std::string Snapshotter::LayerPath(const Digest& diff_id) const {
  return root_ + "/snapshots/" + diff_id.Hex();
}

bool Snapshotter::HasLayer(const Digest& diff_id) const { return fs::Exists(LayerPath(diff_id)); }

Result<std::vector<std::string>> Snapshotter::LowerDirs(const std::vector<Digest>& layers) const {
  std::vector<std::string> lowers;
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    if (!HasLayer(*it))
      return MakeError(ErrorCode::kNotFound, "layer {} has no snapshot in `{}`", it->ToString(), root_);
    // Short link names keep the overlay option string under the kernel's one-page limit
    // (40+ layers of full paths do not fit), as Docker's overlay2 "l/" links do.
    std::string link = root_ + "/l/" + it->Hex().substr(0, 16);
    // A layer that occurs twice (e.g. the same COPY repeated): overlayfs refuses a lowerdir
    // listed twice (ELOOP). Keeping only the topmost copy gives the same view: everything the
    // lower copy shows or hides, the identical upper one already does.
    if (std::find(lowers.begin(), lowers.end(), link) != lowers.end()) continue;
    if (::symlink(("../snapshots/" + it->Hex()).c_str(), link.c_str()) != 0 && errno != EEXIST)
      return ErrnoError(errno, fmt::format("symlink `{}`", link));
    lowers.push_back(link);
  }
  if (lowers.empty()) lowers.push_back(root_ + "/snapshots/_empty");
  return lowers;
}

Result<std::unique_ptr<ActiveSnapshot>> Snapshotter::Prepare(const std::vector<Digest>& parents) {
  std::unique_ptr<ActiveSnapshot> s(new ActiveSnapshot());
  s->lowers_ = CB_TRY(LowerDirs(parents));
  s->dir_ = CB_TRY(fs::MakeTempDir(root_ + "/active", std::to_string(::getpid()) + "-"));
  s->upper_ = s->dir_ + "/upper";
  s->work_ = s->dir_ + "/work";
  s->rootfs_ = s->dir_ + "/rootfs";
  for (const auto* p : {&s->upper_, &s->work_, &s->rootfs_}) CB_TRY(fs::MakeDirs(*p));
  return s;
}

Status Snapshotter::Commit(ActiveSnapshot& snap, const Digest& diff_id) {
  std::string dst = LayerPath(diff_id);
  if (::rename(snap.upper_.c_str(), dst.c_str()) != 0) {
    // Another build committed the same layer first: identical content, keep theirs.
    if (errno != EEXIST && errno != ENOTEMPTY)
      return ErrnoError(errno, fmt::format("rename `{}` to `{}`", snap.upper_, dst));
  }
  snap.committed_ = true;
  return fs::SyncDir(root_ + "/snapshots");
}

Result<Mount> Snapshotter::View(const std::vector<Digest>& layers) const {
  auto lowers = CB_TRY(LowerDirs(layers));
  // overlayfs needs two lowers for a read-only mount without an upper.
  if (lowers.size() == 1) lowers.push_back(root_ + "/snapshots/_empty");
  return Mount{"overlay", "overlay", "/", {"lowerdir=" + Join(lowers, ':'), "ro"}};
}

}  // namespace cb::snapshotter
