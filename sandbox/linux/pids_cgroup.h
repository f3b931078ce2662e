// A pids cgroup per sandbox (cgroup v1 "pids" controller or cgroup v2), the sandbox's
// process-count limit.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/result.h"

namespace cb::sandbox::linux_impl {

/// Owns one cgroup directory `<pids root>/<own cgroup>/cbuild/cbuild-<ownerpid>-<n>`;
/// removes it on destruction (once its processes are gone). Move-only.
class PidsCgroup {
 public:
  PidsCgroup() = default;
  PidsCgroup(PidsCgroup&& o) noexcept : dir_(std::move(o.dir_)) { o.dir_.clear(); }
  PidsCgroup& operator=(PidsCgroup&& o) noexcept;
  ~PidsCgroup();

  /// Creates a cgroup limited to `limit` processes. An inactive object (no error) when the
  /// host has no usable pids controller or `limit` is 0.
  static Result<PidsCgroup> Create(int64_t limit);

  bool active() const { return !dir_.empty(); }
  const std::string& dir() const { return dir_; }
  /// Moves process `pid` (and its future children) into the cgroup.
  Status Join(pid_t pid) const;

 private:
  std::string dir_;
};

/// Removes cbuild-<pid>-<n> cgroups whose owner process is gone (killing what is still in
/// them). No-op without a pids controller.
Status CleanupStalePidsCgroups();

}  // namespace cb::sandbox::linux_impl
