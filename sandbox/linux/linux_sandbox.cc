// LinuxSandbox: the parent side of a sandboxed run (clone, place, supervise, report).
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <limits.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "sandbox/linux/child_setup.h"
#include "sandbox/linux/id_maps.h"
#include "sandbox/linux/mount_point_cleanup.h"
#include "sandbox/linux/pids_cgroup.h"
#include "sandbox/linux/plan_builder.h"
#include "sandbox/linux/slirp.h"
#include "sandbox/linux/tty_relay.h"
#include "sandbox/sandbox.h"

namespace cb::sandbox {
namespace {

using linux_impl::ChildReport;
using linux_impl::PlanBuilder;

struct FdPair {
  UniqueFd parent, child;
};

// A socket rather than a pipe: writing to it after the child died is EPIPE, never SIGPIPE.
Result<FdPair> MakeSyncSocket() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    return ErrnoError(errno, "create sync socket");
  return FdPair{UniqueFd(fds[0]), UniqueFd(fds[1])};  // parent writes, child reads
}

Result<FdPair> MakeReportSocket() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
    return ErrnoError(errno, "create report socket");
  return FdPair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

int SendSignal(int pidfd, int sig) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

// One message from the child: >0 got one (and maybe an fd or a path), 0 EOF, <0 nothing now.
int ReceiveReport(int fd, ChildReport* r, UniqueFd* passed, std::string* path) {
  struct {
    ChildReport r;
    char path[PATH_MAX + 1];
  } buf;
  struct iovec iov {&buf, sizeof buf};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN || errno == EINTR ? -1 : 0;
  if (n == 0) return 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int got;
      std::memcpy(&got, CMSG_DATA(c), sizeof got);
      passed->reset(got);
    }
  }
  if (n < static_cast<ssize_t>(sizeof *r)) return -1;
  *r = buf.r;
  size_t extra = static_cast<size_t>(n) - sizeof *r;
  path->assign(buf.path, extra > 0 ? strnlen(buf.path, extra) : 0);
  return 1;
}

// Everything the parent watches while the sandbox runs.
class Supervisor {
 public:
  Supervisor(pid_t pid, int pidfd, int report_fd, const SandboxSpec& spec)
      : pid_(pid), pidfd_(pidfd), report_fd_(report_fd), spec_(spec) {}

  std::optional<ChildReport> report;
  int wait_status = 0;
  std::vector<std::string> created;  ///< mount points the child created inside the root

  Status Run() {
    bool exited = false;
    while (!exited) {
      struct pollfd fds[3 + linux_impl::TtyRelay::kPollFds] = {
          {pidfd_, POLLIN, 0},
          {report_open_ ? report_fd_ : -1, POLLIN, 0},
          {cancel_open_ ? spec_.cancel_fd : -1, POLLIN, 0}};
      int nfds = 3;
      if (tty_) {
        tty_->Prepare(fds + 3);
        nfds += linux_impl::TtyRelay::kPollFds;
      }
      int n = poll(fds, static_cast<nfds_t>(nfds), StopTimeout());
      if (n < 0 && errno != EINTR) return ErrnoError(errno, "poll sandbox");
      if (n == 0 && StopTimeout() == 0) {
        SendSignal(pidfd_, SIGKILL);
        killed_ = true;
      }
      if (n <= 0) continue;
      if (fds[1].revents) ReadReports();
      if (fds[2].revents) Cancel();
      if (tty_) tty_->Handle(fds + 3);
      if (fds[0].revents) exited = true;
    }
    return Reap();
  }

  /// Kills the sandbox and reaps it (after an error in the parent).
  void Abort() {
    SendSignal(pidfd_, SIGKILL);
    (void)Reap();
  }

 private:
  void ReadReports() {
    for (;;) {
      ChildReport r;
      UniqueFd passed;
      std::string path;
      int got = ReceiveReport(report_fd_, &r, &passed, &path);
      if (got == 0) report_open_ = false;
      if (got <= 0) return;
      if (r.stage == linux_impl::kStageCreated) {
        created.push_back(std::move(path));
      } else if (r.stage == linux_impl::kStageTty && passed && !tty_) {
        tty_.emplace(std::move(passed), spec_.stdin_fd, spec_.stdout_fd, spec_.winch_fd);
      } else if (r.stage != linux_impl::kStageTty && r.stage != linux_impl::kStageCreated &&
                 (!report || report->stage != linux_impl::kStageSetup)) {
        report = r;
      }
    }
  }

  // Each byte on cancel_fd is a signal to forward (1..31), anything else or EOF is SIGTERM.
  // The init forwards it to the command; the kill timer starts with the first one.
  void Cancel() {
    unsigned char bytes[16];
    ssize_t n = read(spec_.cancel_fd, bytes, sizeof bytes);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
      cancel_open_ = false;
      bytes[0] = SIGTERM;
      n = 1;
    }
    for (ssize_t i = 0; i < n; ++i) {
      int sig = bytes[i] >= 1 && bytes[i] <= 31 && bytes[i] != SIGKILL && bytes[i] != SIGSTOP
                    ? bytes[i]
                    : SIGTERM;
      SendSignal(pidfd_, sig);
    }
    if (stop_ms_ < 0 && !stopping_) {
      stopping_ = true;
      stop_ms_ = spec_.stop_timeout_ms;
      stop_deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(stop_ms_);
    }
  }

  // Time left before SIGKILL, for poll (-1: no deadline).
  int StopTimeout() const {
    if (!stopping_ || killed_) return -1;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        stop_deadline_ - std::chrono::steady_clock::now());
    return left.count() < 0 ? 0 : static_cast<int>(left.count());
  }

  Status Reap() {
    siginfo_t info{};
    while (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED) != 0) {
      if (errno != EINTR) return ErrnoError(errno, "wait for sandbox");
    }
    wait_status = info.si_code == CLD_EXITED ? (info.si_status & 0xff) << 8 : info.si_status;
    if (report_open_) ReadReports();  // what the child wrote just before exiting
    if (tty_) tty_->Drain();
    return Ok();
  }

  pid_t pid_;
  int pidfd_, report_fd_;
  const SandboxSpec& spec_;
  bool report_open_ = true;
  bool cancel_open_ = spec_.cancel_fd >= 0;
  int stop_ms_ = -1;
  bool stopping_ = false, killed_ = false;
  std::chrono::steady_clock::time_point stop_deadline_;
  std::optional<linux_impl::TtyRelay> tty_;
};

Result<ExitStatus> Interpret(const Supervisor& sup, const PlanBuilder& plan,
                             const SandboxSpec& spec) {
  if (sup.report && sup.report->stage == linux_impl::kStageSetup) {
    return ErrnoError(sup.report->err, plan.StepText(sup.report->step));
  }
  if (sup.report && sup.report->stage == linux_impl::kStageExec) {
    int err = sup.report->err;
    std::string msg = fmt::format("cbuild: exec `{}`: {}\n", spec.argv[0],
                                  err == ENOENT ? "executable file not found in $PATH"
                                                : std::strerror(err));
    int fd = spec.tty ? spec.stdout_fd : spec.stderr_fd;
    if (fd >= 0) (void)!write(fd, msg.data(), msg.size());
    return ExitStatus{err == ENOENT || err == ENOTDIR ? 127 : 126};
  }
  int st = sup.wait_status;
  if (WIFEXITED(st)) return ExitStatus{WEXITSTATUS(st)};
  if (WIFSIGNALED(st)) return ExitStatus{128 + WTERMSIG(st)};
  return ExitStatus{125};
}

class LinuxSandbox final : public Sandbox {
 public:
  Result<ExitStatus> Run(const SandboxSpec& spec) override;
};

// Waits for the child's kStageReady (or its failure report / exit).
Status WaitReady(int report_fd) {
  for (;;) {
    struct pollfd p {report_fd, POLLIN, 0};
    if (poll(&p, 1, -1) < 0 && errno != EINTR) return ErrnoError(errno, "wait for sandbox");
    ChildReport r;
    UniqueFd passed;
    std::string path;
    int got = ReceiveReport(report_fd, &r, &passed, &path);
    if (got == 0) return MakeError(ErrorCode::kFailed, "sandbox process exited during setup");
    if (got > 0 && r.stage == linux_impl::kStageReady) return Ok();
    if (got > 0) return ErrnoError(r.err, "prepare sandbox process");
  }
}

// Runs between clone and the child's go: id maps, cgroup placement, network plumbing.
Status PlaceChild(pid_t pid, const std::optional<linux_impl::IdMaps>& maps,
                  const linux_impl::PidsCgroup& cgroup, const SandboxSpec& spec,
                  std::optional<linux_impl::Slirp>* slirp) {
  if (maps) CB_TRY_CTX(linux_impl::ApplyIdMaps(pid, *maps), "map user namespace ids");
  CB_TRY_CTX(cgroup.Join(pid), "move sandbox into cgroup `{}`", cgroup.dir());
  if (spec.network == NetworkMode::kDefault) {
    slirp->emplace(CB_TRY(linux_impl::Slirp::Start(pid, maps.has_value())));
  }
  return Ok();
}

// clone3 into new namespaces; the child runs ChildMain. Returns the pid, or -errno.
long CloneSandbox(const SandboxSpec& spec, bool userns, const linux_impl::ChildPlan& plan,
                  int* pidfd) {
  struct clone_args args {};
  args.flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_PIDFD;
  if (spec.network != NetworkMode::kHost) args.flags |= CLONE_NEWNET;
  if (userns) args.flags |= CLONE_NEWUSER;
  args.pidfd = reinterpret_cast<uintptr_t>(pidfd);
  args.exit_signal = SIGCHLD;
  // The child starts with every signal blocked: one sent before it has reset the handlers
  // it inherited (ours) stays pending instead of running our handler in the child.
  sigset_t all, old_mask;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old_mask);
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) linux_impl::ChildMain(plan);  // never returns
  int clone_err = errno;
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  return pid < 0 ? -clone_err : pid;
}

Result<ExitStatus> LinuxSandbox::Run(const SandboxSpec& spec) {
  PlanBuilder builder;
  CB_TRY(builder.Build(spec));
  if (spec.network == NetworkMode::kDefault) CB_TRY(linux_impl::Slirp::CheckAvailable());
  FdPair report = CB_TRY(MakeReportSocket());
  FdPair sync = CB_TRY(MakeSyncSocket());
  linux_impl::PidsCgroup cgroup = CB_TRY(linux_impl::PidsCgroup::Create(spec.pids_limit));
  UniqueFd dev_null(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!dev_null) return ErrnoError(errno, "open `/dev/null`");
  auto or_null = [&](int fd) { return fd >= 0 ? fd : dev_null.get(); };
  std::optional<linux_impl::IdMaps> maps;
  if (spec.user_namespace || geteuid() != 0) maps = linux_impl::PlanIdMaps();
  if (maps && maps->deny_setgroups && !spec.extra_gids.empty())
    return MakeError(ErrorCode::kInvalidArgument,
                     "sandbox: supplementary groups need subordinate ids (/etc/subgid) here");
  linux_impl::ChildPlan& plan = builder.plan();
  plan.skip_setgroups = maps && maps->deny_setgroups;
  plan.announce_ready = maps.has_value();
  plan.stdin_fd = spec.tty ? dev_null.get() : or_null(spec.stdin_fd);
  plan.stdout_fd = or_null(spec.stdout_fd);
  plan.stderr_fd = or_null(spec.tty ? spec.stdout_fd : spec.stderr_fd);
  plan.report_fd = report.child.get();
  plan.sync_fd = sync.child.get();

  int pidfd = -1;
  long pid = CloneSandbox(spec, maps.has_value(), plan, &pidfd);
  if (pid < 0) return ErrnoError(static_cast<int>(-pid), "clone sandbox process");
  UniqueFd pidfd_owner(pidfd);
  report.child.reset();
  sync.child.reset();
  Supervisor sup(static_cast<pid_t>(pid), pidfd, report.parent.get(), spec);
  std::optional<linux_impl::Slirp> slirp;
  Status placed = maps ? WaitReady(report.parent.get()) : Ok();
  if (placed) placed = PlaceChild(static_cast<pid_t>(pid), maps, cgroup, spec, &slirp);
  char go = 1;
  if (!placed || send(sync.parent.get(), &go, 1, MSG_NOSIGNAL) != 1) {
    sup.Abort();
    if (!placed) return std::move(placed).error();
    return ErrnoError(errno, "start sandbox");
  }
  sync.parent.reset();
  Status ran = sup.Run();
  if (!ran) sup.Abort();
  // The sandbox's mounts are gone with its namespace: the writable layer is plain files now.
  const snapshotter::Mount& root = spec.mounts[0];
  linux_impl::RemoveCreatedMountPoints(
      linux_impl::WritableRootOf(root.type, root.source, root.options), sup.created);
  if (!ran) return std::move(ran).error();
  return Interpret(sup, builder, spec);
}

}  // namespace

std::unique_ptr<Sandbox> NewLinuxSandbox() { return std::make_unique<LinuxSandbox>(); }

Status CleanupStaleSandboxes() { return linux_impl::CleanupStalePidsCgroups(); }

}  // namespace cb::sandbox
