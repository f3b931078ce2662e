#include <sched.h>
#include <sys/mount.h>

#include <cerrno>

#include "sandbox/host_mount.h"

namespace cb::sandbox {

Status EnterPrivateMountNamespace() {
  if (::unshare(CLONE_NEWNS) != 0) return ErrnoError(errno, "unshare mount namespace");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return ErrnoError(errno, "make `/` private");
  return Ok();
}

Result<ScopedMount> ScopedMount::Mount(const snapshotter::Mount& m, const std::string& where) {
  std::string data;
  unsigned long flags = 0;
  for (const auto& o : m.options) {
    if (o == "ro") {
      flags |= MS_RDONLY;
    } else if (o == "rbind") {
      flags |= MS_BIND | MS_REC;
    } else if (o == "bind") {
      flags |= MS_BIND;
    } else {
      if (!data.empty()) data += ',';
      data += o;
    }
  }
  if (::mount(m.source.c_str(), where.c_str(), m.type.c_str(), flags, data.empty() ? nullptr : data.c_str()) != 0)
    return ErrnoError(errno, fmt::format("mount {} on `{}`", m.type, where));
  return ScopedMount(where);
}

Status ScopedMount::Unmount() {
  if (where_.empty()) return Ok();
  std::string w = std::move(where_);
  where_.clear();
  if (::umount2(w.c_str(), MNT_DETACH) != 0) return ErrnoError(errno, fmt::format("unmount `{}`", w));
  return Ok();
}

ScopedMount::~ScopedMount() { (void)Unmount(); }

}  // namespace cb::sandbox
