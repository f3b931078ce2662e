// The security profile and the docker-run-like options of the sandbox.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
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

std::string StatusField(const std::string& status, const std::string& field) {
  std::istringstream in(status);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) {
      std::string v = line.substr(field.size() + 1);
      return v.substr(v.find_first_not_of(" \t"));
    }
  return "";
}

TEST_CASE("Docker's default capabilities, no_new_privs and seccomp are in force") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  RunOutput r = RunCaptured(root.Spec({"cat", "/proc/self/status"}));
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(StatusField(r.out, "CapEff") == "00000000a80425fb");
  CHECK(StatusField(r.out, "CapPrm") == "00000000a80425fb");
  CHECK(StatusField(r.out, "CapBnd") == "00000000a80425fb");
  CHECK(StatusField(r.out, "CapInh") == "0000000000000000");
  CHECK(StatusField(r.out, "CapAmb") == "0000000000000000");
  CHECK(StatusField(r.out, "NoNewPrivs") == "1");
  CHECK(StatusField(r.out, "Seccomp") == "2");
}

TEST_CASE("a non-root user has no capabilities and its groups") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  SandboxSpec spec = root.Spec(Sh("id -u; id -g; id -G; grep CapEff /proc/self/status"));
  spec.uid = 65534;
  spec.gid = 65534;
  spec.extra_gids = {100, 200};
  RunOutput r = RunCaptured(spec);
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "65534\n65534\n65534 100 200\nCapEff:\t0000000000000000\n");
}

TEST_CASE("masked and read-only /proc and /sys paths") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  RunOutput r = RunCaptured(root.Spec(Sh(
      "cat /proc/kcore 2>/dev/null | wc -c; cat /proc/keys 2>/dev/null | wc -c;"
      "ls /sys/firmware 2>/dev/null | wc -l;"
      "echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo SYS_WRITABLE;"
      "echo h > /proc/sysrq-trigger 2>/dev/null && echo SYSRQ_WRITABLE;"
      "touch /sys/x 2>/dev/null && echo SYS_RW; echo end")));
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "0\n0\n0\nend\n");
}

TEST_CASE("hostname, hosts and resolv.conf are provided and leave no trace in the layer") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  SandboxSpec spec = root.Spec(Sh("cat /etc/hostname; grep -c localhost /etc/hosts;"
                                  "grep cbx /etc/hosts; grep example /etc/hosts"));
  spec.hostname = "cbx";
  spec.extra_hosts = {"10.1.2.3 example.test"};
  RunOutput r = RunCaptured(spec);
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "cbx\n2\n127.0.1.1\tcbx\n10.1.2.3 example.test\n");
  // The busybox lower has /etc but no hosts file: the mount points were removed again and
  // the copied-up /etc with them.
  CHECK_FALSE(std::filesystem::exists(root.upper() + "/etc"));
}

TEST_CASE("RUN true leaves an empty upper dir") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  RunOutput r = RunCaptured(root.Spec({"true"}));
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(std::filesystem::is_empty(root.upper()));
}

TEST_CASE("bind mounts, read-only and read-write") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  Canary ro, rw;
  std::string before = ro.Snapshot();
  SandboxSpec spec = root.Spec(Sh(
      "cat /ro/file; touch /ro/new 2>/dev/null && echo RO_WRITABLE; echo hi > /rw/made;"
      "cat /single"));
  spec.mounts.push_back({"bind", ro.dir(), "/ro", {"rbind", "ro"}});
  spec.mounts.push_back({"bind", rw.dir(), "/rw", {"rbind"}});
  spec.mounts.push_back({"bind", ro.dir() + "/sub/inner", "/single", {"bind", "ro"}});
  RunOutput r = RunCaptured(spec);
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "canary\ninner\n");
  CHECK(ro.Snapshot() == before);
  CHECK(std::filesystem::exists(rw.dir() + "/made"));
  CHECK(std::filesystem::is_empty(root.upper()));  // mount points removed again
}

TEST_CASE("tmpfs mount from the spec") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  SandboxSpec spec = root.Spec(Sh("echo x > /scratch/f && grep ' /scratch ' /proc/mounts"));
  spec.mounts.push_back({"tmpfs", "tmpfs", "/scratch", {"size=1m", "nosuid"}});
  RunOutput r = RunCaptured(spec);
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out.find("tmpfs /scratch tmpfs rw,nosuid") == 0);
}

TEST_CASE("read-only root") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  SandboxSpec spec = root.Spec(Sh("touch /x 2>/dev/null && echo WROTE; echo y > /dev/shm/y && echo shm"));
  spec.read_only_rootfs = true;
  RunOutput r = RunCaptured(spec);
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "shm\n");
}

TEST_CASE("an overlay of lowerdirs only is read-only") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  SandboxSpec spec = root.Spec(Sh("touch /x 2>/dev/null || echo readonly; head -1 /etc/group"));
  std::filesystem::create_directories(root.dir() + "/empty");
  spec.mounts[0].options = {"lowerdir=" + root.dir() + "/empty:" + BusyboxLower()};
  RunOutput r = RunCaptured(spec);
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "readonly\nroot:x:0:\n");
}

TEST_CASE("ulimits") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  SandboxSpec spec = root.Spec(Sh("ulimit -n; ulimit -c"));
  spec.ulimits = {{"nofile", 512, 1024}, {"core", 0, 0}};
  RunOutput r = RunCaptured(spec);
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "512\n0\n");
  spec.ulimits = {{"bogus", 1, 1}};
  CHECK_FALSE(RunCaptured(spec).ok);
}

TEST_CASE("the pids limit stops fork bombs") {
  SKIP_UNLESS_SANDBOX();
  if (!std::filesystem::exists("/sys/fs/cgroup/pids/cgroup.procs") &&
      !std::filesystem::exists("/sys/fs/cgroup/cgroup.controllers")) {
    MESSAGE("SKIPPED: no pids cgroup controller");
    return;
  }
  OverlayRoot root;
  SandboxSpec spec = root.Spec(Sh("i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done; echo end"));
  spec.pids_limit = 16;
  RunOutput r = RunCaptured(spec);
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.err.find("fork") != std::string::npos);
  CHECK(CleanupStaleSandboxes().has_value());
}

TEST_CASE("SIGTERM is forwarded to the command by the init") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  int cancel[2];
  REQUIRE(pipe2(cancel, O_CLOEXEC) == 0);
  // The command traps TERM and exits 7: the signal reached it through the init.
  SandboxSpec spec = root.Spec(Sh("trap 'echo got; exit 7' TERM; echo ready; while :; do sleep 0.05; done"));
  spec.cancel_fd = cancel[0];
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    (void)!write(cancel[1], "x", 1);
  });
  RunOutput r = RunCaptured(spec);
  stopper.join();
  close(cancel[0]);
  close(cancel[1]);
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.code == 7);
  CHECK(r.out == "ready\ngot\n");
}

TEST_CASE("a signal number written to cancel_fd is forwarded (Ctrl-C -> 130)") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  int cancel[2];
  REQUIRE(pipe2(cancel, O_CLOEXEC) == 0);
  SandboxSpec spec = root.Spec({"sleep", "100"});
  spec.cancel_fd = cancel[0];
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    char sig = SIGINT;
    (void)!write(cancel[1], &sig, 1);
  });
  RunOutput r = RunCaptured(spec);
  stopper.join();
  close(cancel[0]);
  close(cancel[1]);
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.code == 130);
}

TEST_CASE("a cancel during setup is not lost") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  int cancel[2];
  REQUIRE(pipe2(cancel, O_CLOEXEC) == 0);
  close(cancel[1]);  // cancelled before the sandbox even starts
  SandboxSpec spec = root.Spec({"sleep", "100"});
  spec.cancel_fd = cancel[0];
  auto start = std::chrono::steady_clock::now();
  RunOutput r = RunCaptured(spec);
  close(cancel[0]);
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.code == 143);  // SIGTERM waited for the init's handler, then reached `sleep`
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("cancel escalates to SIGKILL after the stop timeout") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  int cancel[2];
  REQUIRE(pipe2(cancel, O_CLOEXEC) == 0);
  SandboxSpec spec = root.Spec(Sh("trap '' TERM; while :; do sleep 0.05; done"));
  spec.cancel_fd = cancel[0];
  spec.stop_timeout_ms = 300;
  auto start = std::chrono::steady_clock::now();
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));  // the trap is set by then
    close(cancel[1]);
  });
  RunOutput r = RunCaptured(spec);
  stopper.join();
  close(cancel[0]);
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.code == 137);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

}  // namespace
}  // namespace cb::sandbox::testing
