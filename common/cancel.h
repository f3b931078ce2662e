// Process-wide cancellation: SIGINT/SIGTERM/SIGHUP to cbuild become a flag that long-running
// code polls and a byte on per-user pipes that sandboxes watch (SandboxSpec::cancel_fd).
#pragma once

#include "common/result.h"

namespace cb::cancel {

/// How long a cancelled sandbox's command gets to exit after the forwarded signal before
/// everything in it is SIGKILLed (SandboxSpec::stop_timeout_ms): cbuild is gone well within 10 s.
constexpr int kStopTimeoutMs = 5000;

/// Installs handlers for SIGINT, SIGTERM and SIGHUP (SA_RESTART). Each signal is recorded (the
/// first one is kept as Signal()) and its number written to every live Subscription. Call once,
/// early, from the main thread. Async-signal-safe handler: an atomic store and write(2) only.
Status InstallSignalHandlers();

/// The first signal received (or passed to Request), 0 when none.
int Signal();
inline bool Requested() { return Signal() != 0; }

/// Marks the process cancelled as if signal `sig` had arrived (tests, internal aborts).
void Request(int sig);

/// kCancelled "interrupted by SIGINT" when cancelled, else Ok. For loops that should stop.
Status Check();

/// The exit status for a cancelled process: 128 + Signal() (130 SIGINT, 143 SIGTERM).
int ExitCode();

/// A pipe's read end (non-blocking, CLOEXEC) that receives one byte, the signal number, for
/// each signal received while the subscription lives; when the process is already cancelled
/// the byte is there at once. Made for SandboxSpec::cancel_fd. Pipes are pooled and never
/// closed, so the signal handler never writes to a reused descriptor. fd() is -1 when no pipe
/// could be made (too many subscriptions or no fds): the caller just loses cancellation.
/// Thread-safe.
class Subscription {
 public:
  Subscription();
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  int fd() const { return fd_; }

 private:
  int slot_ = -1;
  int fd_ = -1;
};

}  // namespace cb::cancel
