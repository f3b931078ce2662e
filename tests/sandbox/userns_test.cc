// Sandboxes in a user namespace: as root on request, and always for an unprivileged user.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

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

constexpr uid_t kNobody = 65534;

TEST_CASE("user namespace as root: identity map, files keep their owners") {
  SKIP_UNLESS_SANDBOX();
  OverlayRoot root;
  SandboxSpec spec = root.Spec(Sh("cat /proc/self/uid_map | tr -s ' '; id -u; echo x > /made;"
                                  "mount -t tmpfs none /mnt 2>/dev/null && echo MOUNT; echo end"));
  spec.user_namespace = true;
  RunOutput r = RunCaptured(spec);
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.out == " 0 0 65536\n0\nend\n");
  struct stat st {};
  REQUIRE(stat((root.upper() + "/made").c_str(), &st) == 0);
  CHECK(st.st_uid == 0);
}

// Runs `script` as an unprivileged host user; returns "<code>|<stdout>" or "error|<msg>".
std::string RunAsNobody(const std::string& script, const std::function<void(SandboxSpec&)>& adjust,
                        std::string* upper_owner_file = nullptr) {
  OverlayRoot root;
  std::filesystem::permissions(root.dir(), std::filesystem::perms::all);  // 0777: reachable
  for (const char* sub : {"upper", "work", "root"})
    REQUIRE(chown((root.dir() + "/" + sub).c_str(), kNobody, kNobody) == 0);
  int out[2];
  REQUIRE(pipe(out) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(out[0]);
    if (setgroups(0, nullptr) != 0 || setresgid(kNobody, kNobody, kNobody) != 0 ||
        setresuid(kNobody, kNobody, kNobody) != 0)
      _exit(100);
    SandboxSpec spec = root.Spec(Sh(script));
    if (adjust) adjust(spec);
    RunOutput r = RunCaptured(spec);
    std::string text = r.ok ? std::to_string(r.code) + "|" + r.out : "error|" + r.error;
    (void)!write(out[1], text.data(), text.size());
    _exit(0);
  }
  close(out[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  close(out[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  if (upper_owner_file != nullptr) {
    struct stat s {};
    if (stat((root.upper() + "/made").c_str(), &s) == 0) *upper_owner_file = std::to_string(s.st_uid);
  }
  return text;
}

TEST_CASE("an unprivileged user gets a user namespace: root inside, itself outside") {
  SKIP_UNLESS_SANDBOX();
  std::string owner;
  std::string got = RunAsNobody("id -u; tr -s ' ' < /proc/self/uid_map; echo x > /made;"
                                "grep CapEff /proc/self/status; hostname",
                                nullptr, &owner);
  if (got.find("Operation not permitted") != std::string::npos &&
      got.find("mount overlay") != std::string::npos) {
    MESSAGE("SKIPPED: this kernel does not allow overlayfs in a user namespace: " << got);
    return;
  }
  CHECK(got == "0|0\n 0 65534 1\nCapEff:\t00000000a80425fb\ncbuild\n");
  CHECK(owner == "65534");
}

TEST_CASE("unprivileged sandbox: escapes still fail") {
  SKIP_UNLESS_SANDBOX();
  Canary canary;
  std::string before = canary.Snapshot();
  std::filesystem::permissions(canary.dir(), std::filesystem::perms::all);
  std::string got = RunAsNobody(
      "mount -t tmpfs none /mnt 2>/dev/null && echo MOUNT; unshare -U true 2>/dev/null && echo UNSHARE;"
      "touch /canary/x 2>/dev/null && echo WRITE; echo h > /proc/sysrq-trigger 2>/dev/null && echo SYSRQ;"
      "ls /proc/self/fd | tr '\\n' ' '; echo; echo end",
      [&](SandboxSpec& s) {
        s.mounts.push_back({"bind", canary.dir(), "/canary", {"rbind", "ro"}});
        s.network = NetworkMode::kNone;
      });
  if (got.find("mount overlay") != std::string::npos) {
    MESSAGE("SKIPPED: no overlayfs in a user namespace here: " << got);
    return;
  }
  CHECK(got == "0|0 1 2 3 \nend\n");
  CHECK(canary.Snapshot() == before);
}

}  // namespace
}  // namespace cb::sandbox::testing
