// common/cancel: a signal reaches every live subscription (one pipe each), late subscribers see
// it at once, pooled pipes come back drained. A separate executable: the cancelled state is
// process-wide and cannot be undone.
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <optional>
#include <vector>

#include "common/cancel.h"

namespace {

/// The bytes waiting on `fd` (non-blocking).
std::vector<int> Pending(int fd) {
  std::vector<int> out;
  unsigned char b[64];
  ssize_t n;
  while ((n = read(fd, b, sizeof b)) > 0)
    for (ssize_t i = 0; i < n; ++i) out.push_back(b[i]);
  return out;
}

bool Readable(int fd) {
  struct pollfd p {fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1;
}

}  // namespace

TEST_CASE("a signal reaches every subscription, later ones too, and nothing else") {
  REQUIRE(cb::cancel::InstallSignalHandlers());
  CHECK(cb::cancel::Signal() == 0);
  CHECK(cb::cancel::Check());
  std::optional<cb::cancel::Subscription> idle;
  idle.emplace();
  int idle_fd = idle->fd();
  REQUIRE(idle_fd >= 0);
  CHECK_FALSE(Readable(idle_fd));
  idle.reset();  // back to the pool; the handler may still write to it

  cb::cancel::Subscription a;
  std::optional<cb::cancel::Subscription> b;
  b.emplace();
  REQUIRE(a.fd() >= 0);
  REQUIRE(b->fd() >= 0);
  CHECK(a.fd() == idle_fd);  // pooled: the pipe is reused, never closed
  CHECK(a.fd() != b->fd());
  CHECK_FALSE(Readable(a.fd()));

  REQUIRE(raise(SIGTERM) == 0);  // handled: the test process keeps running
  CHECK(cb::cancel::Signal() == SIGTERM);
  CHECK(cb::cancel::Requested());
  CHECK(cb::cancel::ExitCode() == 143);
  auto err = cb::cancel::Check();
  REQUIRE_FALSE(err);
  CHECK(err.error().code == cb::ErrorCode::kCancelled);
  CHECK(err.error().message == "interrupted by SIGTERM");
  CHECK(Pending(a.fd()) == std::vector<int>{SIGTERM});
  CHECK(Pending(b->fd()) == std::vector<int>{SIGTERM});

  REQUIRE(raise(SIGINT) == 0);  // forwarded too, but the first signal decides the exit code
  CHECK(Pending(a.fd()) == std::vector<int>{SIGINT});
  CHECK(cb::cancel::Signal() == SIGTERM);

  // A new subscription reuses b's pipe, whose unread SIGINT is drained first: it gets the
  // first signal, once.
  int b_fd = b->fd();
  b.reset();
  cb::cancel::Subscription late;
  REQUIRE(late.fd() == b_fd);
  CHECK(Pending(late.fd()) == std::vector<int>{SIGTERM});
}
