// Behaviour of the Linux sandbox as a RUN step sees it (needs root; skips itself otherwise).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "tests/sandbox/sandbox_fixture.h"

namespace cb::sandbox::testing {
namespace {

#define SKIP_UNLESS_SANDBOX()                  \
  do {                                         \
    if (!SkipReason().empty()) {               \
      MESSAGE(SkipReason());                   \
      return;                                  \
    }                                          \
  } while (0)

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

TEST_CASE("echo output reaches the stdout pipe") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  RunOutput r = RunCaptured(root.Spec({"echo", "hello", "world"}));
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.code == 0);
  CHECK(r.out == "hello world\n");
}

TEST_CASE("exit codes follow docker run") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  SUBCASE("exit 0") { CHECK(RunCaptured(root.Spec(Sh("exit 0"))).code == 0); }
  SUBCASE("exit 3") { CHECK(RunCaptured(root.Spec(Sh("exit 3"))).code == 3); }
  SUBCASE("command not found is 127") {
    RunOutput r = RunCaptured(root.Spec({"no-such-command"}));
    REQUIRE_MESSAGE(r.ok, r.error);
    CHECK(r.code == 127);
    CHECK(r.err.find("no-such-command") != std::string::npos);
  }
  SUBCASE("missing absolute path is 127") {
    CHECK(RunCaptured(root.Spec({"/bin/nothing-here"})).code == 127);
  }
  SUBCASE("not executable is 126") {
    RunOutput r = RunCaptured(root.Spec({"/bin/not-executable"}));
    REQUIRE_MESSAGE(r.ok, r.error);
    CHECK(r.code == 126);
  }
  SUBCASE("killed by SIGKILL is 137") {
    CHECK(RunCaptured(root.Spec(Sh("kill -9 $$"))).code == 137);
  }
}

TEST_CASE("env and cwd are applied; a missing cwd is created") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  SandboxSpec spec = root.Spec(Sh("echo \"$FOO\"; pwd"));
  spec.env.push_back("FOO=bar baz");
  spec.cwd = "/work/dir";
  RunOutput r = RunCaptured(spec);
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "bar baz\n/work/dir\n");
  CHECK(std::filesystem::is_directory(root.upper() + "/work/dir"));
}

TEST_CASE("PATH comes from the spec, not from the host") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  SandboxSpec spec = root.Spec({"echo", "x"});
  spec.env = {"PATH=/nowhere"};
  CHECK(RunCaptured(spec).code == 127);
}

TEST_CASE("hostname is set") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  SandboxSpec spec = root.Spec({"hostname"});
  spec.hostname = "cbuild-test";
  RunOutput r = RunCaptured(spec);
  CHECK(r.out == "cbuild-test\n");
}

TEST_CASE("the pid namespace shows only the sandbox's processes") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  RunOutput r = RunCaptured(root.Spec(Sh("echo $$; cat /proc/1/comm; ls /proc | grep '^[0-9]*$'")));
  REQUIRE_MESSAGE(r.ok, r.error);
  std::vector<std::string> lines = Lines(r.out);
  REQUIRE(lines.size() >= 3);
  CHECK(lines[0] == "2");  // PID 1 is the sandbox init, the command is its only child
  CHECK(lines[1] == "cbuild-init");
  std::set<std::string> pids(lines.begin() + 2, lines.end());
  CHECK(pids.count("1") == 1);
  CHECK(pids.count("2") == 1);
  CHECK(pids.size() <= 4);  // init, sh, ls, grep
}

TEST_CASE("writes land in the upperdir, not in the lowerdir") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  RunOutput r = RunCaptured(root.Spec(Sh("echo data > /newfile && cat /newfile")));
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "data\n");
  std::ifstream f(root.upper() + "/newfile");
  std::string content;
  std::getline(f, content);
  CHECK(content == "data");
  CHECK_FALSE(std::filesystem::exists(BusyboxLower() + "/newfile"));
}

TEST_CASE("nothing stays mounted on the host") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  auto before = MountLinesWith(root.dir());
  auto lower_before = MountLinesWith(BusyboxLower());
  RunOutput r = RunCaptured(root.Spec(Sh("mount | grep -c . >/dev/null; sleep 0.1")));
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(MountLinesWith(root.dir()) == before);
  CHECK(MountLinesWith(BusyboxLower()) == lower_before);
  CHECK(before.empty());
}

TEST_CASE("network none has only a loopback that is up") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  SandboxSpec spec = root.Spec(Sh("ls /sys/class/net; cat /sys/class/net/lo/flags"));
  spec.network = NetworkMode::kNone;
  RunOutput r = RunCaptured(spec);
  REQUIRE_MESSAGE(r.ok, r.error);
  std::vector<std::string> lines = Lines(r.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "lo");
  CHECK((std::stoul(lines[1], nullptr, 16) & 1) == 1);  // IFF_UP
}

TEST_CASE("only stdio fds reach the command") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  int leaked = open("/etc/hostname", O_RDONLY);  // deliberately not O_CLOEXEC
  RunOutput r = RunCaptured(root.Spec({"ls", "/proc/self/fd"}));
  close(leaked);
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "0\n1\n2\n3\n");  // 3 is ls's own handle on the directory
}

TEST_CASE("orphaned children are reaped") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  RunOutput r =
      RunCaptured(root.Spec(Sh("(sleep 0.1 &); sleep 0.6; cat /proc/[0-9]*/stat | grep -c ') Z '")));
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "0\n");
}

TEST_CASE("two Runs in parallel threads") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot a, b;
  RunOutput ra, rb;
  std::thread ta([&] { ra = RunCaptured(a.Spec(Sh("sleep 0.2; echo a"))); });
  std::thread tb([&] { rb = RunCaptured(b.Spec(Sh("sleep 0.2; echo b"))); });
  ta.join();
  tb.join();
  CHECK(ra.out == "a\n");
  CHECK(rb.out == "b\n");
  CHECK(ra.code == 0);
  CHECK(rb.code == 0);
}

TEST_CASE("a setup failure is an Error naming the action and operand") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  SandboxSpec spec = root.Spec({"true"});
  spec.mounts[0].options[0] = "lowerdir=/nonexistent-cbuild-lower";
  RunOutput r = RunCaptured(spec);
  REQUIRE_FALSE(r.ok);
  CHECK(r.error.find("mount overlay on `" + root.dir() + "/root`") != std::string::npos);
}

TEST_CASE("cancel_fd stops the sandbox with SIGTERM") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  int cancel[2];
  REQUIRE(pipe2(cancel, O_CLOEXEC) == 0);
  SandboxSpec spec = root.Spec({"sleep", "100"});
  spec.cancel_fd = cancel[0];
  auto start = std::chrono::steady_clock::now();
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    close(cancel[1]);
  });
  RunOutput r = RunCaptured(spec);
  stopper.join();
  close(cancel[0]);
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.code == 143);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("the sandbox has a session of its own and /dev/tty is not the user's terminal") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  SandboxSpec spec = root.Spec(Sh("cut -d' ' -f6 /proc/self/stat; cat /dev/tty >/dev/null 2>&1 && echo TTY; echo end"));
  RunOutput r = RunCaptured(spec);
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "1\nend\n");
}

TEST_CASE("stdio fds of -1 are /dev/null") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  SandboxSpec spec = root.Spec(Sh("echo out; echo err >&2; read x || exit 6"));
  spec.stdout_fd = spec.stderr_fd = spec.stdin_fd = -1;
  auto r = NewLinuxSandbox()->Run(spec);
  REQUIRE(r.has_value());
  CHECK(r->code == 6);
}

TEST_CASE("per-run overhead of `true` (50 runs)") {
  SKIP_UNLESS_SANDBOX();
  constexpr int kRuns = 50;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRuns; ++i) {
    OverlayRoot root;
    RunOutput r = RunCaptured(root.Spec({"true"}));
    REQUIRE_MESSAGE(r.ok, r.error);
    REQUIRE(r.code == 0);
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                  .count() / kRuns;
  MESSAGE("sandbox overhead: " << ms << " ms per run of `true` (overlay + namespaces + init)");
  CHECK(ms < 500);
}

}  // namespace
}  // namespace cb::sandbox::testing
