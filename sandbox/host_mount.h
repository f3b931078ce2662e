// Mounts made by the cbuild process itself (COPY and WORKDIR write through an overlay of the
// snapshot). They live in cbuild's own private mount namespace, entered once at start, so the
// host never sees them and they vanish with the process, even after SIGKILL.
#pragma once

#include <string>

#include "common/result.h"
#include "snapshotter/mount.h"

namespace cb::sandbox {

/// unshare(CLONE_NEWNS) and make every mount private. Must run before any thread starts.
Status EnterPrivateMountNamespace();

/// A mount in this process' namespace, lazily detached on destruction.
class ScopedMount {
 public:
  static Result<ScopedMount> Mount(const snapshotter::Mount& m, const std::string& where);
  ScopedMount(ScopedMount&& o) noexcept : where_(std::move(o.where_)) { o.where_.clear(); }
  ScopedMount& operator=(ScopedMount&&) = delete;
  ScopedMount(const ScopedMount&) = delete;
  ~ScopedMount();
  /// Unmounts now, reporting failure.
  Status Unmount();

 private:
  explicit ScopedMount(std::string where) : where_(std::move(where)) {}
  std::string where_;
};

}  // namespace cb::sandbox
