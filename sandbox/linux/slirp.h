// Slirp: outbound networking for NetworkMode::kDefault through slirp4netns.
#pragma once

#include <sys/types.h>

#include "common/result.h"
#include "common/unique_fd.h"

namespace cb::sandbox::linux_impl {

/// A running slirp4netns attached to a sandbox's network namespace: tap0 10.0.2.100/24,
/// gateway 10.0.2.2, DNS 10.0.2.3, the host's loopback unreachable. Stopped (exit fd closed,
/// process reaped) on destruction; it also exits by itself when cbuild dies.
class Slirp {
 public:
  Slirp(Slirp&& o) noexcept : pid_(o.pid_), exit_fd_(std::move(o.exit_fd_)) { o.pid_ = -1; }
  Slirp& operator=(Slirp&&) = delete;
  ~Slirp();

  /// kUnsupported when slirp4netns is not installed.
  static Status CheckAvailable();
  /// Starts slirp4netns for the network namespace of `pid` and waits (up to 10 s) until it
  /// has configured the interface. `join_userns`: the namespace belongs to the user
  /// namespace of `pid`, which slirp4netns must join first.
  static Result<Slirp> Start(pid_t pid, bool join_userns);

 private:
  Slirp(pid_t pid, UniqueFd exit_fd) : pid_(pid), exit_fd_(std::move(exit_fd)) {}
  pid_t pid_ = -1;
  UniqueFd exit_fd_;
};

}  // namespace cb::sandbox::linux_impl
