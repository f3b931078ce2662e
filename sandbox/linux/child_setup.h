// The sandbox child: runs right after clone(2) in fresh namespaces and never returns.
#pragma once

#include "sandbox/linux/child_plan.h"

namespace cb::sandbox::linux_impl {

/// Sets up the sandbox described by `plan` and execs the command. Async-signal-safe: only
/// raw syscalls, no allocation, no locks, no logging (the parent may be multi-threaded).
/// Failures are written as a ChildReport to the report fd, then the child `_exit`s:
/// setup failures with 125, exec failures with 127 (not found) or 126 (not executable).
/// With `plan.run_init`, this process stays as PID 1: it forks the command, forwards
/// SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2/SIGWINCH to it, reaps every child, and exits
/// with the command's status (128+N when it was killed by signal N).
[[noreturn]] void ChildMain(const ChildPlan& plan);

/// Raw clone(2) that behaves like fork() without running glibc's atfork handlers or taking
/// its locks (safe after clone in a copy of a multi-threaded process). Returns like fork().
long RawFork();

}  // namespace cb::sandbox::linux_impl
