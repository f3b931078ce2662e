// Escape attempts from inside the sandbox: each must fail, and a canary directory on the host
// (bind-mounted read-only at /canary) must be unchanged afterwards.
#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
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

// Runs `script` with the canary at /canary (read-only) and checks the canary afterwards.
RunOutput Attempt(const std::string& script,
                  const std::function<void(SandboxSpec&)>& adjust = nullptr) {
  OverlayRoot root;
  Canary canary;
  std::string before = canary.Snapshot();
  auto mounts_before = MountLinesWith(canary.dir());
  SandboxSpec spec = root.Spec(Sh(script));
  spec.mounts.push_back({"bind", canary.dir(), "/canary", {"rbind", "ro"}});
  if (adjust) adjust(spec);
  RunOutput r = RunCaptured(spec);
  CHECK(canary.Snapshot() == before);
  CHECK(MountLinesWith(canary.dir()) == mounts_before);
  CHECK(MountLinesWith(root.dir()).empty());
  return r;
}

TEST_CASE("escape: writing /proc/sysrq-trigger and /proc/sys fails") {
  SKIP_UNLESS_SANDBOX();
  RunOutput r = Attempt(
      "echo h > /proc/sysrq-trigger && echo SYSRQ; echo 1 > /proc/sys/vm/drop_caches && echo SYS;"
      "sysctl -w kernel.domainname=x >/dev/null 2>&1 && echo SYSCTL; echo end");
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "end\n");
}

TEST_CASE("escape: mount and remount fail") {
  SKIP_UNLESS_SANDBOX();
  RunOutput r = Attempt(
      "mount -t tmpfs none /mnt 2>/dev/null && echo MOUNT;"
      "mount -o remount,rw /canary 2>/dev/null && echo REMOUNT;"
      "mount --bind /canary /mnt 2>/dev/null && echo BIND;"
      "umount /canary 2>/dev/null && echo UMOUNT;"
      "touch /canary/x 2>/dev/null && echo WRITE; rm -rf /canary/* 2>/dev/null;"
      "pivot_root /tmp /tmp 2>/dev/null && echo PIVOT; echo end");
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "end\n");
}

TEST_CASE("escape: unshare and nsenter fail") {
  SKIP_UNLESS_SANDBOX();
  RunOutput r = Attempt(
      "unshare -m true 2>/dev/null && echo MNTNS; unshare -U true 2>/dev/null && echo USERNS;"
      "unshare -n true 2>/dev/null && echo NETNS; unshare -p -f true 2>/dev/null && echo PIDNS;"
      "nsenter -t 1 -m true 2>/dev/null && echo NSENTER; echo end");
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "end\n");
}

TEST_CASE("escape: /proc/self/exe and the init's /proc entries are out of reach") {
  SKIP_UNLESS_SANDBOX();
  struct stat exe_before {};
  REQUIRE(stat("/proc/self/exe", &exe_before) == 0);
  RunOutput r = Attempt(
      "echo x > /proc/self/exe 2>/dev/null && echo SELF_EXE;"
      "echo x > /proc/1/exe 2>/dev/null && echo INIT_EXE;"
      "cat /proc/1/exe > /dev/null 2>&1 && echo READ_INIT_EXE;"
      "ls /proc/1/root/ > /dev/null 2>&1 && echo INIT_ROOT;"
      "cat /proc/1/environ > /dev/null 2>&1 && echo INIT_ENV;"
      "cat /proc/1/mem > /dev/null 2>&1 && echo INIT_MEM;"
      "readlink /proc/1/fd/1 > /dev/null 2>&1 && echo INIT_FD;"
      "readlink /proc/1/cwd > /dev/null 2>&1 && echo INIT_CWD; echo end");
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "end\n");
  struct stat exe_after {};
  REQUIRE(stat("/proc/self/exe", &exe_after) == 0);
  CHECK(exe_after.st_size == exe_before.st_size);
  CHECK(exe_after.st_mtim.tv_sec == exe_before.st_mtim.tv_sec);
}

TEST_CASE("escape: the init's command line does not reveal cbuild's") {
  SKIP_UNLESS_SANDBOX();
  RunOutput r = Attempt("tr -d '\\0' < /proc/1/cmdline; echo; cat /proc/1/environ >/dev/null 2>&1 && echo ENV");
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "cbuild-init\n");
}

TEST_CASE("escape: processes outside the sandbox cannot be seen, signalled or traced") {
  SKIP_UNLESS_SANDBOX();
  std::string pid = std::to_string(getpid());
  RunOutput r = Attempt("kill -0 " + pid + " 2>/dev/null && echo SIGNAL; ls /proc/" + pid +
                        " >/dev/null 2>&1 && echo VISIBLE; kill -9 1; sleep 0.1; echo end");
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "end\n");
}

TEST_CASE("escape: device nodes made with mknod cannot be opened") {
  SKIP_UNLESS_SANDBOX();
  struct stat root_dev {};
  REQUIRE(stat("/", &root_dev) == 0);
  std::string disk = std::to_string(major(root_dev.st_dev)) + " " +
                     std::to_string(minor(root_dev.st_dev));
  RunOutput r = Attempt("mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem >/dev/null 2>&1 && echo MEM;"
                        "mknod /tmp/disk b " + disk +
                        " && head -c 512 /tmp/disk >/dev/null 2>&1 && echo DISK;"
                        "mknod /dev/kmsg2 c 1 11 && echo x > /dev/kmsg2 2>/dev/null && echo KMSG;"
                        "head -c 4 /dev/urandom | wc -c; echo end");
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "4\nend\n");
}

TEST_CASE("escape: dangerous syscalls are denied") {
  SKIP_UNLESS_SANDBOX();
  RunOutput r = Attempt("swapon /dev/null 2>/dev/null && echo SWAP; dmesg >/dev/null 2>&1 && echo DMESG;"
                        "hostname evil 2>/dev/null && echo HOSTNAME;"
                        "date -s 2001-01-01 >/dev/null 2>&1; date +%Y | grep -q 2001 && echo CLOCK; echo end");
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "end\n");
}

// A TCP listener on the host's loopback that counts accepted connections.
class LoopbackServer {
 public:
  LoopbackServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 8);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 50) > 0) {
          int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
          if (c >= 0) {
            ++accepted_;
            close(c);
          }
        }
      }
    });
  }
  ~LoopbackServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

TEST_CASE("escape: the host's loopback services are unreachable with network none") {
  SKIP_UNLESS_SANDBOX();
  LoopbackServer server;
  std::string connect = "nc -w 1 127.0.0.1 " + std::to_string(server.port()) +
                        " </dev/null >/dev/null 2>&1 && echo CONNECTED; echo end";
  RunOutput none = Attempt(connect, [](SandboxSpec& s) { s.network = NetworkMode::kNone; });
  REQUIRE_MESSAGE(none.ok, none.error);
  CHECK(none.out == "end\n");
  CHECK(server.accepted() == 0);
  // Sanity check of the test itself: with the host network the service is reachable.
  RunOutput host = Attempt(connect, [](SandboxSpec& s) { s.network = NetworkMode::kHost; });
  CHECK(host.out == "CONNECTED\nend\n");
}

TEST_CASE("network default: slirp4netns interface, host loopback unreachable") {
  SKIP_UNLESS_SANDBOX();
  if (access("/usr/bin/slirp4netns", X_OK) != 0) {
    MESSAGE("SKIPPED: slirp4netns is not installed");
    return;
  }
  LoopbackServer server;
  std::string port = std::to_string(server.port());
  RunOutput r = Attempt(
      "ls /sys/class/net | tr '\\n' ' '; echo; ip -4 addr show tap0 | grep -o 'inet [0-9./]*';"
      "cat /etc/resolv.conf; nc -w 1 10.0.2.2 " + port + " </dev/null >/dev/null 2>&1 && echo HOSTLO;"
      "nc -w 1 127.0.0.1 " + port + " </dev/null >/dev/null 2>&1 && echo LO; echo end",
      [](SandboxSpec& s) { s.network = NetworkMode::kDefault; });
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "lo tap0 \ninet 10.0.2.100/24\nnameserver 10.0.2.3\nend\n");
  CHECK(server.accepted() == 0);
}

TEST_CASE("escape: no fd of cbuild leaks into the sandbox") {
  SKIP_UNLESS_SANDBOX();
  Canary outside;
  int dir_fd = open(outside.dir().c_str(), O_RDONLY | O_DIRECTORY);  // no O_CLOEXEC on purpose
  int sock = socket(AF_INET, SOCK_STREAM, 0);
  int p[2];
  REQUIRE(pipe(p) == 0);
  RunOutput r = Attempt("ls /proc/self/fd | tr '\\n' ' '; echo; ls -l /proc/self/fd | grep -c canary");
  close(dir_fd);
  close(sock);
  close(p[0]);
  close(p[1]);
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == "0 1 2 3 \n0\n");
}

TEST_CASE("escape: a working directory outside the root is refused") {
  SKIP_UNLESS_SANDBOX();
  Canary outside;
  int dir_fd = open(outside.dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(dir_fd >= 0);
  RunOutput r = Attempt("touch escaped; pwd", [&](SandboxSpec& s) {
    s.stdin_fd = dir_fd;  // fd 0 of the sandbox is a host directory...
    s.cwd = "/proc/self/fd/0";  // ...and WORKDIR tries to enter it through the magic link
  });
  close(dir_fd);
  CHECK_FALSE(r.ok);
  CHECK(r.error.find("outside the container root") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(outside.dir() + "/escaped"));
}

TEST_CASE("escape: symlinks in the image cannot redirect mounts to the host") {
  SKIP_UNLESS_SANDBOX();
  Canary outside;
  std::string before = outside.Snapshot();
  SUBCASE("/etc/hosts points at a host file") {
    OverlayRoot root;
    std::filesystem::create_directories(root.upper() + "/etc");
    std::filesystem::create_symlink(outside.dir() + "/file", root.upper() + "/etc/hosts");
    RunOutput r = RunCaptured(root.Spec(Sh("echo x > /etc/hosts; echo ok")));
    REQUIRE_MESSAGE(r.ok, r.error);
    CHECK(r.out == "ok\n");
  }
  SUBCASE("/proc points at a host directory") {
    OverlayRoot root;
    std::filesystem::create_symlink(outside.dir(), root.upper() + "/proc");
    RunOutput r = RunCaptured(root.Spec(Sh("echo ok")));
    // Either refused (the target does not exist inside the root) or mounted inside it.
    if (!r.ok) CHECK(r.error.find("mount proc") != std::string::npos);
  }
  SUBCASE("a bind mount target points at a host directory") {
    OverlayRoot root;
    Canary src;
    std::filesystem::create_symlink(outside.dir(), root.upper() + "/data");
    SandboxSpec spec = root.Spec(Sh("ls /data"));
    spec.mounts.push_back({"bind", src.dir(), "/data", {"rbind"}});
    RunOutput r = RunCaptured(spec);
    (void)r;
  }
  CHECK(outside.Snapshot() == before);
  CHECK(MountLinesWith(outside.dir()).empty());
}

}  // namespace
}  // namespace cb::sandbox::testing
