#include "sandbox/linux/slirp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace cb::sandbox::linux_impl {
namespace {

constexpr const char* kCandidates[] = {"/usr/bin/slirp4netns", "/usr/local/bin/slirp4netns",
                                       "/bin/slirp4netns"};
constexpr int kReadyTimeoutMs = 30000;  // generous: a loaded 2-core CI machine is slow

const char* Binary() {
  for (const char* c : kCandidates)
    if (access(c, X_OK) == 0) return c;
  return nullptr;
}

void Reap(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

Slirp::~Slirp() {
  if (pid_ <= 0) return;
  exit_fd_.reset();  // slirp4netns exits when its exit fd reaches EOF
  for (int i = 0; i < 100; ++i) {
    int st;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) return;
    usleep(10000);
  }
  kill(pid_, SIGKILL);
  Reap(pid_);
}

Status Slirp::CheckAvailable() {
  if (Binary() == nullptr)
    return MakeError(ErrorCode::kUnsupported,
                     "network `default` needs slirp4netns (apt-get install slirp4netns)");
  return Ok();
}

Result<Slirp> Slirp::Start(pid_t pid, bool join_userns) {
  const char* bin = Binary();
  if (bin == nullptr) return CheckAvailable().error();
  int ready[2], exitp[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return ErrnoError(errno, "create pipe");
  UniqueFd ready_r(ready[0]), ready_w(ready[1]);
  if (pipe2(exitp, O_CLOEXEC) != 0) return ErrnoError(errno, "create pipe");
  UniqueFd exit_r(exitp[0]), exit_w(exitp[1]);
  // slirp4netns's own messages go to a memory file (never a pipe: it would block or take SIGPIPE
  // later); they are quoted when it fails to come up.
  UniqueFd err_fd(memfd_create("slirp4netns-stderr", MFD_CLOEXEC));
  if (!err_fd) return ErrnoError(errno, "memfd_create");

  std::vector<std::string> args = {bin, "--configure", "--mtu=65520", "--disable-host-loopback",
                                   "--enable-sandbox", "--enable-seccomp", "--ready-fd=3",
                                   "--exit-fd=4"};
  if (join_userns) args.push_back(fmt::format("--userns-path=/proc/{}/ns/user", pid));
  args.push_back(std::to_string(pid));
  args.push_back("tap0");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, err_fd.get(), 2);
  posix_spawn_file_actions_adddup2(&fa, ready_w.get(), 3);
  posix_spawn_file_actions_adddup2(&fa, exit_r.get(), 4);
  posix_spawn_file_actions_addclosefrom_np(&fa, 5);
  char* envp[] = {nullptr};
  pid_t child = -1;
  int rc = posix_spawn(&child, bin, &fa, nullptr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return ErrnoError(rc, fmt::format("start `{}`", bin));
  ready_w.reset();
  exit_r.reset();
  Slirp slirp(child, std::move(exit_w));

  struct pollfd p {ready_r.get(), POLLIN, 0};
  int n;
  do {
    n = poll(&p, 1, kReadyTimeoutMs);
  } while (n < 0 && errno == EINTR);
  char c = 0;
  if (n <= 0 || read(ready_r.get(), &c, 1) != 1 || c != '1') {
    char buf[2048];
    ssize_t got = pread(err_fd.get(), buf, sizeof buf, 0);
    std::string why = got > 0 ? std::string(buf, static_cast<size_t>(got)) : std::string();
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    if (why.empty()) why = n == 0 ? "no ready signal within 30 s" : "exited before it was ready";
    return MakeError(ErrorCode::kFailed, "start slirp4netns for pid {}: {}", pid, why);
  }
  return slirp;
}

}  // namespace cb::sandbox::linux_impl
