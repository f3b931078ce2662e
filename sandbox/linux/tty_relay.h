// TtyRelay: copies between the caller's fds and the sandbox's pty master (`run -t`).
#pragma once

#include <poll.h>

#include <string>

#include "common/unique_fd.h"

namespace cb::sandbox::linux_impl {

/// Owns the pty master. Not thread-safe; driven by the Run's poll loop.
class TtyRelay {
 public:
  /// `in_fd` (-1: no input), `out_fd` (output), `winch_fd` (-1: none); none are owned.
  TtyRelay(UniqueFd master, int in_fd, int out_fd, int winch_fd);

  /// Number of pollfd entries the relay uses.
  static constexpr int kPollFds = 3;
  /// Fills fds[0..kPollFds) for the next poll.
  void Prepare(struct pollfd* fds) const;
  /// Acts on the poll results of the entries filled by Prepare.
  void Handle(const struct pollfd* fds);
  /// After the sandbox has exited: copies the output still buffered in the pty.
  void Drain();

 private:
  void CopyOutput();
  void ReadInput();
  void FlushInput();
  void Resize() const;

  UniqueFd master_;
  int in_fd_, out_fd_, winch_fd_;
  bool master_open_ = true, in_open_, winch_open_;
  std::string pending_;  // input not yet accepted by the pty
};

}  // namespace cb::sandbox::linux_impl
