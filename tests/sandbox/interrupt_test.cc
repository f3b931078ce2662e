// cbuild interrupted during a run: SIGTERM (graceful, through cancel_fd) and SIGKILL (the
// sandbox dies with it; the next start cleans up the rest).
#include <doctest/doctest.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <fstream>
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

int g_cancel_write = -1;
void OnTerm(int) { (void)!write(g_cancel_write, "x", 1); }

// Forks a stand-in for cbuild that runs `sleep <marker>` in a sandbox and exits with the
// sandbox's code. Returns its pid; `ready_fd` gets "started\n" once the command runs.
pid_t StartRunner(const OverlayRoot& root, const std::string& marker, int* ready_fd) {
  int out[2];
  REQUIRE(pipe(out) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(out[0]);
    int cancel[2];
    if (pipe2(cancel, O_CLOEXEC) != 0) _exit(100);
    g_cancel_write = cancel[1];
    signal(SIGTERM, OnTerm);
    SandboxSpec spec = root.Spec(Sh("echo started; exec sleep " + marker));
    spec.stdout_fd = out[1];
    spec.cancel_fd = cancel[0];
    auto r = NewLinuxSandbox()->Run(spec);
    _exit(r ? r->code : 125);
  }
  close(out[1]);
  *ready_fd = out[0];
  return pid;
}

bool WaitForLine(int fd, const std::string& want) {
  std::string got;
  char c;
  while (read(fd, &c, 1) == 1) {
    if (c == '\n') return got == want;
    got += c;
  }
  return false;
}

// Processes whose command line contains `marker`.
int CountProcesses(const std::string& marker) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (cmd.find(marker) != std::string::npos) ++n;
  }
  return n;
}

// cgroups named `prefix`* under the pids controller's cbuild/ directories.
int CountCgroups(const std::string& prefix) {
  int n = 0;
  for (const char* base : {"/sys/fs/cgroup/pids/cbuild", "/sys/fs/cgroup/cbuild"}) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(base, ec))
      if (e.path().filename().string().rfind(prefix, 0) == 0) ++n;
  }
  return n;
}

bool Eventually(const std::function<bool()>& cond, int ms) {
  for (int i = 0; i < ms / 20; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

TEST_CASE("interrupt: SIGTERM to cbuild ends the sandbox, exit 143, nothing left") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  const std::string marker = "4321.5";
  int ready = -1;
  auto start = std::chrono::steady_clock::now();
  pid_t runner = StartRunner(root, marker, &ready);
  REQUIRE(WaitForLine(ready, "started"));
  CHECK(CountProcesses(marker) == 1);
  kill(runner, SIGTERM);
  int st = 0;
  REQUIRE(waitpid(runner, &st, 0) == runner);
  close(ready);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 143);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  CHECK(CountProcesses(marker) == 0);
  CHECK(MountLinesWith(root.dir()).empty());
}

TEST_CASE("interrupt: SIGKILL to cbuild kills the sandbox; cleanup removes its cgroup") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  const std::string marker = "4322.5";
  int ready = -1;
  pid_t runner = StartRunner(root, marker, &ready);
  REQUIRE(WaitForLine(ready, "started"));
  REQUIRE(CountProcesses(marker) == 1);
  kill(runner, SIGKILL);
  REQUIRE(waitpid(runner, nullptr, 0) == runner);
  close(ready);
  CHECK(Eventually([&] { return CountProcesses(marker) == 0; }, 5000));
  CHECK(MountLinesWith(root.dir()).empty());
  const std::string prefix = "cbuild-" + std::to_string(runner) + "-";
  bool had_cgroup = CountCgroups(prefix) > 0;
  REQUIRE(CleanupStaleSandboxes().has_value());
  CHECK(CountCgroups(prefix) == 0);
  if (!had_cgroup) MESSAGE("no pids cgroup here: only process cleanup was checked");
  // And the next run works.
  OverlayRoot next;
  RunOutput r = RunCaptured(next.Spec({"echo", "again"}));
  CHECK(r.out == "again\n");
}

}  // namespace
}  // namespace cb::sandbox::testing
