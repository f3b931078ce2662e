// ChildPlan: everything the sandbox child needs, prepared by the parent before clone(2).
// The child only reads it: no allocation, no logging after clone (see child_setup.h).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace cb::sandbox::linux_impl {

/// One setup action of the child, executed in order. Strings point into storage owned by the
/// parent-side builder (PlanBuilder), which outlives the child's setup.
enum class OpKind : uint8_t {
  kMakePrivate,   ///< mount(NULL, "/", MS_REC|MS_PRIVATE)
  kMountHost,     ///< mount(a=source, b=host target, c=fstype, flags, d=data) before pivot
  kOpenTree,      ///< slot = open_tree(a=host path, OPEN_TREE_CLONE [|AT_RECURSIVE]); ro via flags
  kFsMount,       ///< slot = fsmount(fsopen(c=fstype) + d="k=v\0k=v\0\0" options); ro via flags
  kPivotRoot,     ///< pivot_root into a=new root and detach the old one
  kMount,         ///< mount(a, b, c, flags, d) inside the new root; b created as a dir
  kMoveMount,     ///< move_mount(slot -> b); b created (a file when `file` is set)
  kMountSlotOrElse, ///< like kMoveMount of slot, if the slot is empty use slot2
  kSymlink,       ///< symlink(a -> b)
  kMkdir,         ///< mkdir -p b with mode
  kMaskPath,      ///< hide b: /dev/null over a file, an empty ro tmpfs over a dir; ENOENT ok
  kReadOnlyPath,  ///< bind b on itself and remount it read-only; ENOENT ok
  kRemountRootRo, ///< remount "/" read-only
  kLoopbackUp,    ///< bring `lo` up in the new network namespace
  kSetHostname,   ///< sethostname(a)
  kWriteFile,     ///< create b (mode 0644, parents too) with d[0..data_len) as content
  kBindFile,      ///< bind file a on file b (b created if missing)
  kUnlink,        ///< unlink(b); ENOENT ok
};

struct ChildOp {
  OpKind kind = OpKind::kMakePrivate;
  bool recursive = false;   ///< kOpenTree: AT_RECURSIVE; kMount: MS_REC
  bool read_only = false;   ///< kOpenTree/kFsMount: set MOUNT_ATTR_RDONLY
  bool file = false;        ///< kMoveMount: target is a regular file
  bool optional = false;    ///< failure is ignored (e.g. sysfs, mqueue in odd kernels)
  bool nodev = false;       ///< kMountHost bind: also set MOUNT_ATTR_NODEV
  int slot = -1;            ///< detached-mount fd slot for kOpenTree/kFsMount/kMoveMount
  int slot2 = -1;           ///< fallback slot for kMountSlotOrElse
  int step = 0;             ///< index of the action text reported to the parent on failure
  unsigned long flags = 0;  ///< mount(2) flags
  unsigned mode = 0755;     ///< kMkdir
  size_t data_len = 0;      ///< kFsMount: bytes in d
  const char* a = nullptr;
  const char* b = nullptr;
  const char* c = nullptr;
  const char* d = nullptr;
};

/// Seccomp BPF program bytes (struct sock_filter array) and their count.
struct SeccompProgram {
  const void* filter = nullptr;
  unsigned short len = 0;
};

/// What the sandbox child reports through the error pipe when something fails.
struct ChildReport {
  int32_t stage = 0;  ///< kStageSetup or kStageExec
  int32_t step = 0;   ///< PlanBuilder step index (setup) or unused (exec)
  int32_t err = 0;    ///< errno
};
inline constexpr int32_t kStageSetup = 1;
inline constexpr int32_t kStageExec = 2;
inline constexpr int32_t kStageTty = 3;  ///< carries the pty master fd (SCM_RIGHTS)
/// The child is dumpable and waits for its user-namespace id maps.
inline constexpr int32_t kStageReady = 5;
/// Followed by a NUL-terminated path (inside the root) created as a mount point.
inline constexpr int32_t kStageCreated = 4;

inline constexpr int kMaxSlots = 64;

struct ResourceLimit {
  int resource = 0;
  uint64_t soft = 0, hard = 0;
};

struct ChildPlan {
  const ChildOp* ops = nullptr;
  size_t op_count = 0;

  // Process setup, after the mounts.
  const char* cwd = "/";
  int cwd_step = 0;        ///< step for "chdir to cwd"
  int cwd_escape_step = 0; ///< step for "working directory outside the root"
  int hostname_step = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  bool skip_setgroups = false;  ///< setgroups is denied in this user namespace
  /// In a new user namespace: make the child dumpable (its /proc files must be writable by
  /// the parent's uid for the id maps, even when cbuild changed uids) and say so.
  bool announce_ready = false;
  const gid_t* groups = nullptr;
  size_t group_count = 0;
  int creds_step = 0;
  bool set_no_new_privs = true;
  uint64_t caps = 0;      ///< capabilities kept (bit N = capability N); others dropped everywhere
  bool drop_caps = true;
  int caps_step = 0;
  SeccompProgram seccomp;  ///< empty: no filter
  int seccomp_step = 0;
  const ResourceLimit* rlimits = nullptr;
  size_t rlimit_count = 0;
  int rlimit_step = 0;
  bool run_init = true;   ///< PID 1 is a tiny init that forks the command and reaps
  int fork_step = 0;
  bool tty = false;       ///< allocate a pty in the sandbox's devpts, send its master
  int tty_step = 0;
  unsigned short tty_rows = 0, tty_cols = 0;  ///< initial window size (0: leave default)
  uid_t tty_owner = 0;

  // Stdio as seen by the child right after clone (dup'ed to 0,1,2); the report socket
  // (SOCK_SEQPACKET, so it can carry the pty master) at fd 3.
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1, report_fd = -1;
  /// Parent -> child sync pipe read end (the child waits for EOF/byte before setup); -1: none.
  int sync_fd = -1;

  // exec: the candidates are tried in order (PATH lookup done by the parent).
  const char* const* exec_candidates = nullptr;  ///< null-terminated
  char* const* argv = nullptr;                   ///< null-terminated
  char* const* envp = nullptr;                   ///< null-terminated
};

}  // namespace cb::sandbox::linux_impl
