// `run -t`: a pty inside the sandbox, input relayed, Ctrl-C delivered to the command.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/sandbox/sandbox_fixture.h"

namespace cb::sandbox::testing {
namespace {

#define SKIP_UNLESS_SANDBOX()    \
  do {                           \
    if (!SkipReason().empty()) { \
      MESSAGE(SkipReason());     \
      return;                    \
    }                            \
  } while (0)

struct TtyRun {
  bool ok = false;
  int code = -1;
  std::string error, out;
};

// Runs `spec` with tty=true; `feed` writes to the command's terminal input.
template <typename Feed>
TtyRun RunTty(SandboxSpec spec, Feed feed) {
  int in[2], out[2];
  REQUIRE(pipe2(in, O_CLOEXEC) == 0);
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  spec.tty = true;
  spec.stdin_fd = in[0];
  spec.stdout_fd = out[1];
  spec.stderr_fd = -1;
  TtyRun r;
  std::thread reader([&] {
    char buf[4096];
    ssize_t n;
    while ((n = read(out[0], buf, sizeof buf)) > 0) r.out.append(buf, static_cast<size_t>(n));
  });
  std::thread writer([&] {
    feed(in[1], r);
    close(in[1]);
  });
  auto res = NewLinuxSandbox()->Run(spec);
  writer.join();
  close(out[1]);
  reader.join();
  close(in[0]);
  close(out[0]);
  r.ok = res.has_value();
  if (r.ok) r.code = res->code;
  else r.error = res.error().ToString();
  return r;
}

void Pause(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

TEST_CASE("tty: the command sees a terminal of its own and reads typed input") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  TtyRun r = RunTty(root.Spec(Sh("tty; [ -t 0 ] && [ -t 1 ] && echo isatty; read x; echo got:$x; exit 4")),
                    [](int fd, TtyRun&) {
                      Pause(300);
                      (void)!write(fd, "hello\n", 6);
                    });
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.code == 4);
  CHECK(r.out.find("/dev/pts/0") != std::string::npos);
  CHECK(r.out.find("isatty") != std::string::npos);
  CHECK(r.out.find("got:hello") != std::string::npos);
  CHECK(r.out.find("\r\n") != std::string::npos);  // the pty's line discipline
}

TEST_CASE("tty: Ctrl-C reaches the command's process group") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  TtyRun r = RunTty(root.Spec(Sh("trap 'echo interrupted; exit 5' INT; echo ready; "
                                 "while :; do sleep 0.05; done")),
                    [](int fd, TtyRun&) {
                      Pause(400);
                      (void)!write(fd, "\x03", 1);
                    });
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.code == 5);
  CHECK(r.out.find("interrupted") != std::string::npos);
}

TEST_CASE("tty: end of input is the terminal's EOF; exit code returned") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  TtyRun r = RunTty(root.Spec({"/bin/sh"}), [](int fd, TtyRun&) {
    Pause(200);
    (void)!write(fd, "echo in-shell\nexit 9\n", 21);
  });
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.code == 9);
  CHECK(r.out.find("in-shell") != std::string::npos);
}

TEST_CASE("tty without input (-t alone)") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  SandboxSpec spec = root.Spec(Sh("stty size; echo done"));
  spec.tty = true;
  int out[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  spec.stdout_fd = out[1];
  std::string text;
  std::thread reader([&] {
    char buf[1024];
    ssize_t n;
    while ((n = read(out[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  });
  auto res = NewLinuxSandbox()->Run(spec);
  close(out[1]);
  reader.join();
  close(out[0]);
  REQUIRE(res.has_value());
  CHECK(res->code == 0);
  CHECK(text.find("done") != std::string::npos);
}

}  // namespace
}  // namespace cb::sandbox::testing
