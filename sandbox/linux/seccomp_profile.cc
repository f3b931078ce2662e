#include "sandbox/linux/seccomp_profile.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memory>
#include <mutex>

#include "common/unique_fd.h"

namespace cb::sandbox::linux_impl {
namespace {

// Syscalls that Docker's default profile does not allow to unprivileged containers.
constexpr const char* kDenied[] = {
    "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module",
    "delete_module", "finit_module", "fsconfig", "fsmount", "fsopen", "fspick",
    "get_kernel_syms", "get_mempolicy", "init_module", "io_uring_enter", "io_uring_register",
    "io_uring_setup", "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load", "keyctl",
    "lookup_dcookie", "mbind", "mount", "mount_setattr", "move_mount", "move_pages",
    "name_to_handle_at", "nfsservctl", "open_by_handle_at", "open_tree", "perf_event_open",
    "pivot_root", "process_vm_readv", "process_vm_writev", "query_module", "quotactl",
    "quotactl_fd", "reboot", "request_key", "set_mempolicy", "setns", "settimeofday", "stime",
    "swapoff", "swapon", "_sysctl", "sysfs", "syslog", "umount", "umount2", "unshare", "uselib",
    "userfaultfd", "ustat", "vm86", "vm86old", "lsm_set_self_attr", "fanotify_init",
};

constexpr unsigned long kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,
                                             CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
                                             CLONE_NEWCGROUP};

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};

Status Check(int rc, const char* what) {
  if (rc < 0) return ErrnoError(-rc, what);
  return Ok();
}

Status AddRules(scmp_filter_ctx ctx) {
  for (const char* name : kDenied) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    CB_TRY(Check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0), "seccomp: deny syscall"));
  }
  int clone_nr = seccomp_syscall_resolve_name("clone");
  for (unsigned long flag : kNamespaceFlags) {
    CB_TRY(Check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), clone_nr, 1,
                                  SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)),
                 "seccomp: restrict clone"));
  }
  int clone3_nr = seccomp_syscall_resolve_name("clone3");
  if (clone3_nr != __NR_SCMP_ERROR) {
    CB_TRY(Check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), clone3_nr, 0),
                 "seccomp: restrict clone3"));
  }
  return Ok();
}

Result<std::vector<unsigned char>> Build() {
  std::unique_ptr<void, CtxDeleter> ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return MakeError(ErrorCode::kFailed, "seccomp: init failed");
#if defined(__x86_64__)
  // 32-bit binaries keep working, under the same rules.
  CB_TRY(Check(seccomp_arch_add(ctx.get(), SCMP_ARCH_X86), "seccomp: add x86"));
#endif
  CB_TRY(AddRules(ctx.get()));
  UniqueFd mem(memfd_create("cbuild-seccomp", MFD_CLOEXEC));
  if (!mem) return ErrnoError(errno, "seccomp: memfd_create");
  CB_TRY(Check(seccomp_export_bpf(ctx.get(), mem.get()), "seccomp: export bpf"));
  off_t size = lseek(mem.get(), 0, SEEK_END);
  if (size <= 0) return MakeError(ErrorCode::kFailed, "seccomp: empty program");
  std::vector<unsigned char> prog(static_cast<size_t>(size));
  if (pread(mem.get(), prog.data(), prog.size(), 0) != size)
    return ErrnoError(errno, "seccomp: read program");
  return prog;
}

}  // namespace

Result<std::vector<unsigned char>> DefaultSeccompProgram() {
  static std::once_flag once;
  static Result<std::vector<unsigned char>>* program = nullptr;
  std::call_once(once, [] { program = new Result<std::vector<unsigned char>>(Build()); });
  return *program;
}

}  // namespace cb::sandbox::linux_impl
