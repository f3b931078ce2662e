#include "snapshotter/tar_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <optional>

#include "common/unique_fd.h"

namespace cb::snapshotter::tar {
namespace {

constexpr std::string_view kOverlayXattrPrefix = "trusted.overlay.";
constexpr std::string_view kOpaqueXattr = "trusted.overlay.opaque";

Error PathError(int err, const std::string& root, const std::string& rel, std::string_view what) {
  return ErrnoError(err, fmt::format("{} `{}/{}`", what, root, rel));
}

// Path through procfs so the l*xattr calls act on `name` inside the already-open directory.
std::string ProcPath(int dir_fd, const std::string& name) {
  return fmt::format("/proc/self/fd/{}/{}", dir_fd, name);
}

// nullopt when the attribute vanished between list and get.
Result<std::optional<std::string>> ReadXattr(const std::string& p, const std::string& key) {
  for (;;) {
    ssize_t n = ::lgetxattr(p.c_str(), key.c_str(), nullptr, 0);
    if (n < 0 && errno == ENODATA) return std::optional<std::string>();
    if (n < 0) return ErrnoError(errno, fmt::format("getxattr {}", key));
    std::string value(static_cast<size_t>(n), '\0');
    ssize_t m = ::lgetxattr(p.c_str(), key.c_str(), value.data(), value.size());
    if (m < 0 && errno == ERANGE) continue;  // grew in between
    if (m < 0) return ErrnoError(errno, fmt::format("getxattr {}", key));
    value.resize(static_cast<size_t>(m));
    return std::optional<std::string>(std::move(value));
  }
}

// listxattrat(2) (Linux 6.13): lists `name` in `dir_fd` without a path through /proc, which
// costs a lookup of its own for every node. -1 with ENOSYS on older kernels (then remembered).
ssize_t ListXattrAt(int dir_fd, const std::string& name, char* list, size_t size) {
  constexpr long kListxattrat = 465;  // the same number on every architecture
  static std::atomic<bool> missing{false};
  if (missing.load(std::memory_order_relaxed)) return errno = ENOSYS, -1;
  long n = ::syscall(kListxattrat, dir_fd, name.c_str(), AT_SYMLINK_NOFOLLOW, list, size);
  if (n < 0 && errno == ENOSYS) missing = true;
  return static_cast<ssize_t>(n);
}

// Reads all xattrs of `name` in `dir_fd`; sets `opaque` when overlay marked the dir opaque.
Status ReadXattrs(int dir_fd, const std::string& name, TreeNode& node, bool& opaque) {
  // Most nodes have none: ask without building the /proc path first.
  ssize_t none = ListXattrAt(dir_fd, name, nullptr, 0);
  if (none == 0) return Ok();
  std::string p = ProcPath(dir_fd, name);
  std::string list;
  for (;;) {
    ssize_t n = ::llistxattr(p.c_str(), nullptr, 0);
    if (n < 0 && (errno == ENOTSUP || errno == EPERM)) return Ok();
    if (n < 0) return ErrnoError(errno, "listxattr");
    if (n == 0) return Ok();
    list.assign(static_cast<size_t>(n), '\0');
    ssize_t m = ::llistxattr(p.c_str(), list.data(), list.size());
    if (m < 0 && errno == ERANGE) continue;
    if (m < 0) return ErrnoError(errno, "listxattr");
    list.resize(static_cast<size_t>(m));
    break;
  }
  for (size_t pos = 0; pos < list.size();) {
    std::string key(list.c_str() + pos);
    pos += key.size() + 1;
    if (key.empty()) continue;
    bool overlay = key.compare(0, kOverlayXattrPrefix.size(), kOverlayXattrPrefix) == 0;
    if (overlay && key != kOpaqueXattr) continue;
    std::optional<std::string> value = CB_TRY(ReadXattr(p, key));
    if (!value) continue;
    if (overlay) {
      opaque = opaque || *value == "y";
      continue;
    }
    node.xattrs.emplace_back(std::move(key), std::move(*value));
  }
  std::sort(node.xattrs.begin(), node.xattrs.end());
  return Ok();
}

TreeNode NodeFromStat(const std::string& path, const struct stat& st) {
  TreeNode n;
  n.path = path;
  n.mode = st.st_mode;
  n.uid = st.st_uid;
  n.gid = st.st_gid;
  n.rdev = st.st_rdev;
  n.size = S_ISREG(st.st_mode) ? static_cast<int64_t>(st.st_size) : 0;
  n.mtime = static_cast<int64_t>(st.st_mtim.tv_sec);
  n.dev = st.st_dev;
  n.ino = st.st_ino;
  n.nlink = st.st_nlink;
  return n;
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

class Scanner {
 public:
  explicit Scanner(const std::string& root_name) : root_(root_name) {}

  Status ScanDir(int dir_fd, const std::string& rel) {
    UniqueFd list_fd(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!list_fd) return PathError(errno, root_, rel, "open directory");
    DIR* d = ::fdopendir(list_fd.get());
    if (d == nullptr) return PathError(errno, root_, rel, "read directory");
    list_fd.release();
    std::vector<std::string> names;
    errno = 0;
    while (dirent* de = ::readdir(d)) {
      std::string_view n(de->d_name);
      if (n != "." && n != "..") names.emplace_back(n);
      errno = 0;
    }
    int err = errno;
    ::closedir(d);
    if (err != 0) return PathError(err, root_, rel, "read directory");
    for (const std::string& name : names) CB_TRY(ScanNode(dir_fd, rel, name));
    return Ok();
  }

  std::vector<TreeNode> Take() { return std::move(nodes_); }

 private:
  Status ScanNode(int dir_fd, const std::string& dir_rel, const std::string& name) {
    std::string rel = Join(dir_rel, name);
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return PathError(errno, root_, rel, "stat");
    }
    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
      TreeNode wh = NodeFromStat(Join(dir_rel, ".wh." + name), st);
      wh.kind = NodeKind::kWhiteout;
      nodes_.push_back(std::move(wh));
      return Ok();
    }
    TreeNode node = NodeFromStat(rel, st);
    bool opaque = false;
    Status xs = ReadXattrs(dir_fd, name, node, opaque);
    if (!xs) return MakeError(ErrorCode::kIo, "{} `{}/{}`", xs.error().message, root_, rel);
    if (S_ISLNK(st.st_mode)) CB_TRY(ReadLink(dir_fd, name, rel, node));
    nodes_.push_back(std::move(node));
    if (!S_ISDIR(st.st_mode)) return Ok();
    if (opaque) {
      TreeNode marker = NodeFromStat(rel + "/.wh..wh..opq", st);
      marker.kind = NodeKind::kOpaqueMarker;
      nodes_.push_back(std::move(marker));
    }
    UniqueFd sub(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) return PathError(errno, root_, rel, "open directory");
    return ScanDir(sub.get(), rel);
  }

  Status ReadLink(int dir_fd, const std::string& name, const std::string& rel, TreeNode& node) {
    std::string buf(PATH_MAX, '\0');
    ssize_t n = ::readlinkat(dir_fd, name.c_str(), buf.data(), buf.size());
    if (n < 0) return PathError(errno, root_, rel, "readlink");
    buf.resize(static_cast<size_t>(n));
    node.link_target = std::move(buf);
    return Ok();
  }

  std::string root_;
  std::vector<TreeNode> nodes_;
};

}  // namespace

Result<std::vector<TreeNode>> ScanTree(int root_fd, const std::string& root_name) {
  Scanner scanner(root_name);
  CB_TRY(scanner.ScanDir(root_fd, ""));
  std::vector<TreeNode> nodes = scanner.Take();
  std::sort(nodes.begin(), nodes.end(),
            [](const TreeNode& a, const TreeNode& b) { return a.path < b.path; });
  return nodes;
}

}  // namespace cb::snapshotter::tar
