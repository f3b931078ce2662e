#include "sandbox/linux/mount_point_cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "common/unique_fd.h"
#include "sandbox/linux/mount_options.h"

namespace cb::sandbox::linux_impl {
namespace {

// The directory holding `path` (relative, no leading '/'), opened inside `base_fd`.
UniqueFd OpenParent(int base_fd, const std::string& rel) {
  size_t slash = rel.rfind('/');
  std::string dir = slash == std::string::npos ? "." : rel.substr(0, slash);
  struct open_how how {};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  return UniqueFd(static_cast<int>(syscall(SYS_openat2, base_fd, dir.c_str(), &how, sizeof how)));
}

std::string Leaf(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

// Removes `rel` from `base_fd` if it is an empty regular file or an empty directory.
bool RemoveIfEmpty(int base_fd, const std::string& rel) {
  UniqueFd parent = OpenParent(base_fd, rel);
  if (!parent) return false;
  std::string leaf = Leaf(rel);
  struct stat st;
  if (fstatat(parent.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
  if (S_ISREG(st.st_mode) && st.st_size == 0)
    return unlinkat(parent.get(), leaf.c_str(), 0) == 0;
  if (S_ISDIR(st.st_mode)) return unlinkat(parent.get(), leaf.c_str(), AT_REMOVEDIR) == 0;
  return false;
}

bool IsOpaque(int base_fd, const std::string& rel) {
  std::string path = "/proc/self/fd/" + std::to_string(base_fd) + "/" + rel;
  char v[8];
  // "user." when the overlay was mounted in a user namespace (userxattr).
  return lgetxattr(path.c_str(), "trusted.overlay.opaque", v, sizeof v) > 0 ||
         lgetxattr(path.c_str(), "user.overlay.opaque", v, sizeof v) > 0;
}

// An upper directory copied up from a lower one, still identical in owner and mode.
bool IsPristineCopyUp(int base_fd, const std::string& rel, const WritableRoot& root) {
  struct stat up;
  if (fstatat(base_fd, rel.c_str(), &up, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(up.st_mode))
    return false;
  if (IsOpaque(base_fd, rel)) return false;
  for (const std::string& lower : root.lowers) {
    UniqueFd lfd(open(lower.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!lfd) continue;
    UniqueFd parent = OpenParent(lfd.get(), rel);
    struct stat lo;
    if (!parent || fstatat(parent.get(), Leaf(rel).c_str(), &lo, AT_SYMLINK_NOFOLLOW) != 0)
      continue;
    return S_ISDIR(lo.st_mode) && lo.st_mode == up.st_mode && lo.st_uid == up.st_uid &&
           lo.st_gid == up.st_gid;
  }
  return false;
}

}  // namespace

WritableRoot WritableRootOf(const std::string& type, const std::string& source,
                            const std::vector<std::string>& options) {
  WritableRoot root;
  MountOptions o = ParseMountOptions(options);
  if (type == "bind" || o.bind) {
    if (!o.read_only) root.base = source;
    return root;
  }
  if (type != "overlay") return root;
  for (const std::string& d : o.data) {
    if (d.rfind("upperdir=", 0) == 0) root.base = d.substr(9);
    if (d.rfind("lowerdir=", 0) == 0) {
      std::string list = d.substr(9);
      size_t start = 0;
      while (start <= list.size()) {
        size_t end = list.find(':', start);
        if (end == std::string::npos) end = list.size();
        if (end > start) root.lowers.push_back(list.substr(start, end - start));
        start = end + 1;
      }
    }
  }
  return root;
}

void RemoveCreatedMountPoints(const WritableRoot& root, const std::vector<std::string>& paths) {
  if (root.base.empty() || paths.empty()) return;
  UniqueFd base(open(root.base.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!base) return;
  std::set<std::string> created;
  std::set<std::string, std::greater<>> ancestors;  // deepest first
  for (auto it = paths.rbegin(); it != paths.rend(); ++it) {
    std::string rel = it->substr(it->find_first_not_of('/') == std::string::npos
                                     ? it->size()
                                     : it->find_first_not_of('/'));
    if (rel.empty()) continue;
    created.insert(rel);
    if (!RemoveIfEmpty(base.get(), rel)) continue;
    for (size_t s = rel.rfind('/'); s != std::string::npos && s > 0; s = rel.rfind('/', s - 1))
      ancestors.insert(rel.substr(0, s));
  }
  for (const std::string& dir : ancestors) {
    if (created.count(dir) || !IsPristineCopyUp(base.get(), dir, root)) continue;
    RemoveIfEmpty(base.get(), dir);
  }
}

}  // namespace cb::sandbox::linux_impl
