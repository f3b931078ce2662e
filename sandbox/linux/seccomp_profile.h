// The default seccomp filter of the sandbox, close to Docker's default profile.
#pragma once

#include <vector>

#include "common/result.h"

namespace cb::sandbox::linux_impl {

/// A BPF program (struct sock_filter[]) that allows everything except the syscalls that
/// could reach the host or the kernel's global state: mount API, pivot_root, namespaces
/// (unshare, setns, clone with CLONE_NEW* flags; clone3 gets ENOSYS so libc falls back to
/// clone), kernel modules, kexec, reboot, swap, bpf, perf_event_open, keyrings, clock and
/// time setting, process_vm_*, open_by_handle_at, userfaultfd, io_uring, syslog, acct,
/// quotactl, ... Denied calls fail with EPERM. Built once per process (thread-safe).
/// Error when libseccomp fails.
Result<std::vector<unsigned char>> DefaultSeccompProgram();

}  // namespace cb::sandbox::linux_impl
