// LinuxSandbox: the parent side of a sandboxed run (clone, wait, report errors).
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "common/unique_fd.h"
#include "executor/linux/child_setup.h"
#include "executor/linux/plan_builder.h"
#include "executor/sandbox.h"

namespace cb::executor {
namespace {

using linux_impl::ChildReport;
using linux_impl::PlanBuilder;

struct Pipe {
  UniqueFd read, write;
};

Result<Pipe> MakePipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoError(errno, "create pipe");
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// What the parent learned while the sandbox ran.
struct Outcome {
  std::optional<ChildReport> report;
  int wait_status = 0;
};

int SendSignal(int pidfd, int sig) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

// Waits for the report pipe to close and the child to exit, honouring cancellation.
Result<Outcome> Supervise(pid_t pid, int pidfd, int report_fd, const SandboxSpec& spec) {
  Outcome out;
  bool report_open = true, exited = false, cancel_open = spec.cancel_fd >= 0;
  int stop_ms = -1;  // after a cancel: time left before SIGKILL
  while (!exited) {
    struct pollfd fds[3] = {{pidfd, POLLIN, 0}, {report_open ? report_fd : -1, POLLIN, 0},
                            {cancel_open ? spec.cancel_fd : -1, POLLIN, 0}};
    int n = poll(fds, 3, stop_ms);
    if (n < 0 && errno != EINTR) return ErrnoError(errno, "poll sandbox");
    if (n == 0 && stop_ms >= 0) {
      SendSignal(pidfd, SIGKILL);
      stop_ms = -1;
      continue;
    }
    if (n <= 0) continue;
    if (fds[1].revents) {
      ChildReport r;
      ssize_t got = read(report_fd, &r, sizeof r);
      if (got == static_cast<ssize_t>(sizeof r)) {
        if (!out.report || out.report->stage != linux_impl::kStageSetup) out.report = r;
      } else if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) {
        report_open = false;
      }
    }
    if (fds[2].revents) {
      cancel_open = false;
      SendSignal(pidfd, SIGTERM);  // the init forwards it to the command
      stop_ms = spec.stop_timeout_ms;
    }
    if (fds[0].revents) exited = true;
  }
  siginfo_t info{};
  while (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED) != 0) {
    if (errno != EINTR) return ErrnoError(errno, "wait for sandbox");
  }
  out.wait_status = info.si_code == CLD_EXITED ? (info.si_status & 0xff) << 8 : info.si_status;
  // Drain what the child wrote just before exiting.
  ChildReport r;
  while (report_open && read(report_fd, &r, sizeof r) == static_cast<ssize_t>(sizeof r)) {
    if (!out.report || out.report->stage != linux_impl::kStageSetup) out.report = r;
  }
  return out;
}

class LinuxSandbox final : public Sandbox {
 public:
  Result<ExitStatus> Run(const SandboxSpec& spec) override;
};

Result<ExitStatus> Interpret(const Outcome& out, const PlanBuilder& plan, const SandboxSpec& spec) {
  if (out.report && out.report->stage == linux_impl::kStageSetup) {
    return ErrnoError(out.report->err, plan.StepText(out.report->step));
  }
  if (out.report && out.report->stage == linux_impl::kStageExec) {
    int err = out.report->err;
    std::string msg = fmt::format("cbuild: exec `{}`: {}\n", spec.argv[0],
                                  err == ENOENT ? "executable file not found in $PATH"
                                                : std::strerror(err));
    if (spec.stderr_fd >= 0) (void)!write(spec.stderr_fd, msg.data(), msg.size());
    return ExitStatus{err == ENOENT || err == ENOTDIR ? 127 : 126};
  }
  int st = out.wait_status;
  if (WIFEXITED(st)) return ExitStatus{WEXITSTATUS(st)};
  if (WIFSIGNALED(st)) return ExitStatus{128 + WTERMSIG(st)};
  return ExitStatus{125};
}

Result<ExitStatus> LinuxSandbox::Run(const SandboxSpec& spec) {
  PlanBuilder builder;
  CB_TRY(builder.Build(spec));
  Pipe report = CB_TRY(MakePipe());
  Pipe sync = CB_TRY(MakePipe());
  UniqueFd dev_null;
  int stdin_fd = spec.stdin_fd;
  if (stdin_fd < 0) {
    dev_null.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!dev_null) return ErrnoError(errno, "open `/dev/null`");
    stdin_fd = dev_null.get();
  }
  linux_impl::ChildPlan& plan = builder.plan();
  plan.stdin_fd = stdin_fd;
  plan.stdout_fd = spec.stdout_fd;
  plan.stderr_fd = spec.stderr_fd;
  plan.report_fd = report.write.get();
  plan.sync_fd = sync.read.get();

  int pidfd = -1;
  struct clone_args args {};
  args.flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_PIDFD;
  if (spec.network == NetworkMode::kNone) args.flags |= CLONE_NEWNET;
  args.pidfd = reinterpret_cast<uintptr_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) return ErrnoError(errno, "clone sandbox process");
  if (pid == 0) linux_impl::ChildMain(plan);  // never returns

  UniqueFd pidfd_owner(pidfd);
  report.write.reset();
  sync.read.reset();
  // Let the child start (hooks such as cgroup placement go before this byte).
  char go = 1;
  if (write(sync.write.get(), &go, 1) != 1) {
    SendSignal(pidfd, SIGKILL);
  }
  sync.write.reset();
  Outcome out = CB_TRY(Supervise(static_cast<pid_t>(pid), pidfd, report.read.get(), spec));
  return Interpret(out, builder, spec);
}

}  // namespace

std::unique_ptr<Sandbox> NewLinuxSandbox() { return std::make_unique<LinuxSandbox>(); }

}  // namespace cb::executor
