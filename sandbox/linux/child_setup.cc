// The sandbox child after clone(2). Everything here is async-signal-safe: raw syscalls and
// stack buffers only, because the parent may be multi-threaded and another thread may have
// held malloc's or stdio's locks at the moment of the clone.
#include "sandbox/linux/child_setup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <initializer_list>

namespace cb::sandbox::linux_impl {
namespace {

constexpr int kReportFd = 3;
constexpr int kSyncFd = 4;

int g_report_fd = -1;
volatile pid_t g_main_pid = -1;

void Report(int32_t stage, int32_t step, int32_t err) {
  ChildReport r{stage, step, err};
  ssize_t n;
  do {
    n = send(g_report_fd, &r, sizeof r, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
}

[[noreturn]] void Fail(int step, int err) {
  Report(kStageSetup, step, err);
  _exit(125);
}

bool g_report_created = false;

// Tells the parent that `path` was created as a mount point, so that it can remove it from
// the snapshot afterwards (when still empty): mount points must not leak into layers.
void ReportCreated(const char* path) {
  if (!g_report_created) return;
  struct {
    ChildReport r;
    char path[PATH_MAX];
  } msg;
  msg.r = ChildReport{kStageCreated, 0, 0};
  size_t len = strlen(path);
  if (len >= sizeof msg.path) return;
  memcpy(msg.path, path, len + 1);
  send(g_report_fd, &msg, sizeof msg.r + len + 1, MSG_NOSIGNAL);
}

// mkdir -p; returns 0 or an errno. `path` is copied to a stack buffer.
int MakeDirs(const char* path, unsigned mode) {
  char buf[PATH_MAX];
  size_t len = strlen(path);
  if (len >= sizeof buf) return ENAMETOOLONG;
  memcpy(buf, path, len + 1);
  for (size_t i = 1; i <= len; ++i) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char saved = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, mode) == 0) {
      ReportCreated(buf);
    } else if (errno != EEXIST) {
      return errno;
    }
    buf[i] = saved;
  }
  return 0;
}

// Creates an empty regular file (and its parents) as a mount point; an existing one is left
// alone (O_EXCL: opening it for writing would copy it up into the overlay's upper dir).
int MakeFile(const char* path) {
  char dir[PATH_MAX];
  size_t len = strlen(path);
  if (len >= sizeof dir) return ENAMETOOLONG;
  memcpy(dir, path, len + 1);
  char* slash = strrchr(dir, '/');
  if (slash != nullptr && slash != dir) {
    *slash = '\0';
    if (int e = MakeDirs(dir, 0755)) return e;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0644);
  if (fd < 0) return errno == EEXIST ? 0 : errno;
  close(fd);
  ReportCreated(path);
  return 0;
}

// Moves stdio to 0,1,2, the report pipe to 3, the sync pipe to 4, and closes every other fd.
void ArrangeFds(const ChildPlan& p) {
  int in = fcntl(p.stdin_fd, F_DUPFD, 10);
  int out = fcntl(p.stdout_fd, F_DUPFD, 10);
  int err = fcntl(p.stderr_fd, F_DUPFD, 10);
  int rep = fcntl(p.report_fd, F_DUPFD_CLOEXEC, 10);
  int sync = p.sync_fd >= 0 ? fcntl(p.sync_fd, F_DUPFD_CLOEXEC, 10) : -1;
  if (rep < 0) _exit(125);
  g_report_fd = rep;
  if (in < 0 || out < 0 || err < 0 || (p.sync_fd >= 0 && sync < 0)) Fail(0, errno);
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0 ||
      dup3(rep, kReportFd, O_CLOEXEC) < 0)
    Fail(0, errno);
  g_report_fd = kReportFd;
  if (sync >= 0 && dup3(sync, kSyncFd, O_CLOEXEC) < 0) Fail(0, errno);
  if (syscall(SYS_close_range, sync >= 0 ? kSyncFd + 1 : kSyncFd, ~0U, 0) != 0) Fail(0, errno);
}

int SetAttr(int dfd, const char* path, bool recursive, uint64_t set) {
  struct mount_attr attr {};
  attr.attr_set = set;
  unsigned flags = (path[0] == '\0' ? AT_EMPTY_PATH : 0) | (recursive ? AT_RECURSIVE : 0);
  return mount_setattr(dfd, path, flags, &attr, sizeof attr) == 0 ? 0 : errno;
}

int SetReadOnly(int dfd, const char* path, bool recursive) {
  return SetAttr(dfd, path, recursive, MOUNT_ATTR_RDONLY);
}

// Applies fsconfig options packed as "key=value\0key\0...\0".
int FsConfig(int fsfd, const char* data, size_t len) {
  size_t i = 0;
  while (i < len && data[i] != '\0') {
    char buf[512];
    size_t n = strlen(data + i);
    if (n >= sizeof buf) return ENAMETOOLONG;
    memcpy(buf, data + i, n + 1);
    char* eq = strchr(buf, '=');
    int r;
    if (eq != nullptr) {
      *eq = '\0';
      r = fsconfig(fsfd, FSCONFIG_SET_STRING, buf, eq + 1, 0);
    } else {
      r = fsconfig(fsfd, FSCONFIG_SET_FLAG, buf, nullptr, 0);
    }
    if (r != 0) return errno;
    i += n + 1;
  }
  return fsconfig(fsfd, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) == 0 ? 0 : errno;
}

int FsMount(const ChildOp& op) {
  int fsfd = fsopen(op.c, FSOPEN_CLOEXEC);
  if (fsfd < 0) return -errno;
  int e = FsConfig(fsfd, op.d, op.data_len);
  if (e != 0) {
    close(fsfd);
    return -e;
  }
  int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, static_cast<unsigned>(op.flags));
  e = errno;
  close(fsfd);
  return mfd >= 0 ? mfd : -e;
}

int PivotRoot(const char* new_root) {
  int old_fd = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (old_fd < 0) return errno;
  int new_fd = open(new_root, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (new_fd < 0) return errno;
  // pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves the
  // new root alone, without needing a put_old directory inside the image.
  if (fchdir(new_fd) != 0 || syscall(SYS_pivot_root, ".", ".") != 0) return errno;
  if (fchdir(old_fd) != 0) return errno;
  if (mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) return errno;
  if (umount2(".", MNT_DETACH) != 0) return errno;
  if (chdir("/") != 0) return errno;
  close(old_fd);
  close(new_fd);
  return 0;
}

int MaskPath(const char* path) {
  struct stat st;
  if (stat(path, &st) != 0) return errno == ENOENT ? 0 : errno;
  int r;
  if (S_ISDIR(st.st_mode)) {
    r = mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0");
  } else {
    r = mount("/dev/null", path, nullptr, MS_BIND, nullptr);
  }
  return r == 0 ? 0 : errno;
}

int ReadOnlyPath(const char* path) {
  struct stat st;
  if (stat(path, &st) != 0) return errno == ENOENT ? 0 : errno;
  if (mount(path, path, nullptr, MS_BIND | MS_REC, nullptr) != 0) return errno;
  return SetReadOnly(AT_FDCWD, path, true);
}

int LoopbackUp() {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  struct ifreq ifr {};
  memcpy(ifr.ifr_name, "lo", 3);
  int r = ioctl(s, SIOCGIFFLAGS, &ifr);
  if (r == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    r = ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  int e = errno;
  close(s);
  return r == 0 ? 0 : e;
}

int WriteFile(const char* path, const char* data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return errno;
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      return e;
    }
    data += n;
    len -= static_cast<size_t>(n);
  }
  close(fd);
  return 0;
}

int MoveSlot(int fd, const ChildOp& op) {
  int e = op.file ? MakeFile(op.b) : MakeDirs(op.b, 0755);
  if (e != 0) return e;
  if (move_mount(fd, "", AT_FDCWD, op.b, MOVE_MOUNT_F_EMPTY_PATH) != 0) return errno;
  return 0;
}

// Runs one op; returns 0 or an errno.
int RunOp(const ChildOp& op, int* slots) {
  switch (op.kind) {
    case OpKind::kMakePrivate:
      return mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 ? 0 : errno;
    case OpKind::kMountHost:
      if (mount(op.a, op.b, op.c, op.flags, op.d) != 0) return errno;
      if ((op.flags & MS_BIND) && (op.read_only || op.nodev))
        return SetAttr(AT_FDCWD, op.b, op.recursive,
                       (op.read_only ? MOUNT_ATTR_RDONLY : 0) | (op.nodev ? MOUNT_ATTR_NODEV : 0));
      return 0;
    case OpKind::kOpenTree: {
      unsigned f = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (op.recursive ? AT_RECURSIVE : 0);
      int fd = open_tree(AT_FDCWD, op.a, f);
      if (fd < 0) return errno;
      slots[op.slot] = fd;
      return op.read_only ? SetReadOnly(fd, "", op.recursive) : 0;
    }
    case OpKind::kFsMount: {
      int fd = FsMount(op);
      if (fd < 0) return -fd;
      slots[op.slot] = fd;
      return 0;
    }
    case OpKind::kPivotRoot:
      if (int e = PivotRoot(op.a)) return e;
      g_report_created = true;
      return 0;
    case OpKind::kMount: {
      if (int e = MakeDirs(op.b, 0755)) return e;
      unsigned long f = op.flags | (op.recursive ? MS_REC : 0);
      return mount(op.a, op.b, op.c, f, op.d) == 0 ? 0 : errno;
    }
    case OpKind::kMoveMount:
      if (slots[op.slot] < 0) return ENOENT;
      return MoveSlot(slots[op.slot], op);
    case OpKind::kMountSlotOrElse: {
      int fd = slots[op.slot] >= 0 ? slots[op.slot] : slots[op.slot2];
      if (fd < 0) return ENOENT;
      return MoveSlot(fd, op);
    }
    case OpKind::kSymlink:
      return symlink(op.a, op.b) == 0 || errno == EEXIST ? 0 : errno;
    case OpKind::kMkdir:
      return MakeDirs(op.b, op.mode);
    case OpKind::kMaskPath:
      return MaskPath(op.b);
    case OpKind::kReadOnlyPath:
      return ReadOnlyPath(op.b);
    case OpKind::kRemountRootRo:
      return SetReadOnly(AT_FDCWD, "/", false);
    case OpKind::kLoopbackUp:
      return LoopbackUp();
    case OpKind::kSetHostname:
      return sethostname(op.a, strlen(op.a)) == 0 ? 0 : errno;
    case OpKind::kWriteFile:
      return WriteFile(op.b, op.d, op.data_len);
    case OpKind::kBindFile: {
      if (int e = MakeFile(op.b)) return e;
      return mount(op.a, op.b, nullptr, MS_BIND, nullptr) == 0 ? 0 : errno;
    }
    case OpKind::kUnlink:
      if (unlink(op.b) == 0 || errno == ENOENT) return 0;
      if (errno == EISDIR && rmdir(op.b) == 0) return 0;
      return errno;
  }
  return EINVAL;
}

void RunOps(const ChildPlan& p) {
  int slots[kMaxSlots];
  for (int& s : slots) s = -1;
  for (size_t i = 0; i < p.op_count; ++i) {
    const ChildOp& op = p.ops[i];
    int e = RunOp(op, slots);
    if (e != 0 && !op.optional) Fail(op.step, e);
  }
  for (int s : slots)
    if (s >= 0) close(s);
  g_report_created = false;  // the working directory stays, like Docker's WORKDIR
}

void EnterCwd(const ChildPlan& p) {
  if (int e = MakeDirs(p.cwd, 0755)) Fail(p.cwd_step, e);
  if (chdir(p.cwd) != 0) Fail(p.cwd_step, errno);
  // A cwd reached through a magic link (/proc/self/fd/N) may lie outside the root; the kernel
  // then reports it as "(unreachable)/...".
  char buf[PATH_MAX];
  long n = syscall(SYS_getcwd, buf, sizeof buf);
  if (n <= 0 || buf[0] != '/') Fail(p.cwd_escape_step, EXDEV);
}

void ResetHandlers() {
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) {
    if (s == SIGKILL || s == SIGSTOP) continue;
    sigaction(s, &sa, nullptr);  // fails harmlessly for glibc-reserved signals
  }
}

void ResetSignals() {
  ResetHandlers();
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

void DropPrivileges(const ChildPlan& p) {
  for (size_t i = 0; i < p.rlimit_count; ++i) {
    struct rlimit rl {p.rlimits[i].soft, p.rlimits[i].hard};
    if (setrlimit(static_cast<__rlimit_resource>(p.rlimits[i].resource), &rl) != 0)
      Fail(p.rlimit_step, errno);
  }
  if (p.drop_caps) {
    for (int c = 0; c < 64; ++c) {
      if (p.caps & (1ULL << c)) continue;
      if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL) Fail(p.caps_step, errno);
    }
  }
  // Raw syscalls: glibc's set*id wrappers signal every thread of the (copied) parent.
  if (!p.skip_setgroups && syscall(SYS_setgroups, p.group_count, p.groups) != 0)
    Fail(p.creds_step, errno);
  if (syscall(SYS_setresgid, p.gid, p.gid, p.gid) != 0) Fail(p.creds_step, errno);
  if (syscall(SYS_setresuid, p.uid, p.uid, p.uid) != 0) Fail(p.creds_step, errno);
  if (p.drop_caps) {
    uint64_t keep = p.uid == 0 ? p.caps : 0;
    struct __user_cap_header_struct hdr {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] {};
    data[0].effective = data[0].permitted = static_cast<uint32_t>(keep);
    data[1].effective = data[1].permitted = static_cast<uint32_t>(keep >> 32);
    if (syscall(SYS_capset, &hdr, data) != 0) Fail(p.caps_step, errno);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
      Fail(p.caps_step, errno);
  }
  if (p.set_no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    Fail(p.caps_step, errno);
}

bool KeepSearching(int err) {
  return err == ENOENT || err == ENOTDIR || err == EACCES || err == ESTALE ||
         err == ENODEV || err == ETIMEDOUT;
}

[[noreturn]] void ExecCommand(const ChildPlan& p, int tty_slave) {
  ResetSignals();
  if (tty_slave >= 0) {
    if (setsid() < 0) Fail(p.tty_step, errno);
    for (int fd = 0; fd < 3; ++fd)
      if (dup2(tty_slave, fd) < 0) Fail(p.tty_step, errno);
    close(tty_slave);
    if (ioctl(0, TIOCSCTTY, 0) != 0) Fail(p.tty_step, errno);
  }
  DropPrivileges(p);
  if (p.seccomp.len > 0) {
    struct sock_fprog prog {p.seccomp.len,
                            static_cast<sock_filter*>(const_cast<void*>(p.seccomp.filter))};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) Fail(p.seccomp_step, errno);
  }
  int first_err = ENOENT;
  bool saw_eacces = false;
  for (const char* const* c = p.exec_candidates; *c != nullptr; ++c) {
    execve(*c, p.argv, p.envp);
    int e = errno;
    if (e == EACCES) saw_eacces = true;
    if (!KeepSearching(e)) {
      first_err = e;
      break;
    }
  }
  if (saw_eacces && first_err == ENOENT) first_err = EACCES;
  Report(kStageExec, 0, first_err);
  _exit(first_err == ENOENT || first_err == ENOTDIR ? 127 : 126);
}

void ForwardSignal(int sig) {
  pid_t pid = g_main_pid;
  if (pid > 0) kill(pid, sig);
}

// Parses the unsigned decimal field `index` (1-based) of /proc/self/stat.
unsigned long StatField(const char* stat, size_t len, int index) {
  size_t i = len;
  while (i > 0 && stat[i - 1] != ')') --i;  // comm may hold spaces and parens
  int field = 2;
  unsigned long value = 0;
  for (; i < len; ++i) {
    if (stat[i] == ' ') {
      if (field == index) return value;
      ++field;
      continue;
    }
    if (field == index && stat[i] >= '0' && stat[i] <= '9') value = value * 10 + (stat[i] - '0');
  }
  return field == index ? value : 0;
}

// /proc/1/cmdline is world-readable: the init is a copy of cbuild, whose command line may hold
// build args or credentials. Overwrite our copy of argv (and environ) before the command runs.
void ScrubCommandLine() {
  char stat[2048];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, stat, sizeof stat);
  close(fd);
  if (n <= 0) return;
  constexpr int kArgStart = 48, kArgEnd = 49, kEnvStart = 50, kEnvEnd = 51;
  auto size = static_cast<size_t>(n);
  unsigned long arg_start = StatField(stat, size, kArgStart), arg_end = StatField(stat, size, kArgEnd);
  unsigned long env_start = StatField(stat, size, kEnvStart), env_end = StatField(stat, size, kEnvEnd);
  if (env_end > env_start) memset(reinterpret_cast<void*>(env_start), 0, env_end - env_start);
  if (arg_end <= arg_start) return;
  char* args = reinterpret_cast<char*>(arg_start);
  memset(args, 0, arg_end - arg_start);
  static const char kName[] = "cbuild-init";
  memcpy(args, kName, sizeof kName <= arg_end - arg_start ? sizeof kName : arg_end - arg_start);
}

// Opens a pty in the sandbox's own devpts, sends its master to the parent and returns the
// slave (the parent keeps the only master).
int OpenTty(const ChildPlan& p) {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) Fail(p.tty_step, errno);
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) != 0) Fail(p.tty_step, errno);
  if (p.tty_rows > 0 && p.tty_cols > 0) {
    struct winsize ws {};
    ws.ws_row = p.tty_rows;
    ws.ws_col = p.tty_cols;
    ioctl(master, TIOCSWINSZ, &ws);
  }
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  if (slave < 0) Fail(p.tty_step, errno);
  if (fchown(slave, p.tty_owner, static_cast<gid_t>(-1)) != 0) Fail(p.tty_step, errno);
  ChildReport r{kStageTty, 0, 0};
  struct iovec iov {&r, sizeof r};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  memset(control, 0, sizeof control);
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &master, sizeof(int));
  if (sendmsg(kReportFd, &msg, MSG_NOSIGNAL) < 0) Fail(p.tty_step, errno);
  close(master);
  return slave;
}

[[noreturn]] void RunInit(const ChildPlan& p) {
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  int tty_slave = p.tty ? OpenTty(p) : -1;
  ScrubCommandLine();
  long pid = RawFork();
  if (pid < 0) Fail(p.fork_step, errno);
  if (pid == 0) ExecCommand(p, tty_slave);
  g_main_pid = static_cast<pid_t>(pid);
  if (tty_slave >= 0) close(tty_slave);
  close(kReportFd);  // the parent sees EOF once the command has exec'ed
  prctl(PR_SET_NAME, "cbuild-init", 0, 0, 0);
  // The init keeps every capability and a copy of cbuild's memory: the command must not be
  // able to open /proc/1/{exe,mem,root,...}.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  struct sigaction sa {};
  sa.sa_handler = ForwardSignal;
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH})
    sigaction(s, &sa, nullptr);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (;;) {
    int status = 0;
    pid_t w = static_cast<pid_t>(syscall(SYS_wait4, -1, &status, 0, nullptr));
    if (w < 0) {
      if (errno == EINTR) continue;
      _exit(125);  // ECHILD without seeing the command: cannot happen
    }
    if (w != g_main_pid) continue;  // an orphan re-parented to us: reaped, nothing else
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) _exit(128 + WTERMSIG(status));
  }
}

}  // namespace

long RawFork() { return syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, 0); }

void ChildMain(const ChildPlan& p) {
  g_report_fd = p.report_fd;
  // The handlers are the parent's until now. Default them, and block everything: a signal
  // sent during setup stays pending (a blocked signal is never discarded, even for a pid
  // namespace's init) until the init has its forwarding handlers.
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  ResetHandlers();
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  // A session of its own: no controlling terminal, so the host's /dev/tty cannot be opened
  // (no TIOCSTI into the user's shell) and terminal signals go to cbuild, which cancels.
  setsid();
  ArrangeFds(p);
  if (p.announce_ready) {
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    Report(kStageReady, 0, 0);
  }
  if (p.sync_fd >= 0) {
    char c;
    ssize_t n;
    do {
      n = read(kSyncFd, &c, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) _exit(125);  // the parent gave up
    close(kSyncFd);
  }
  RunOps(p);
  EnterCwd(p);
  if (p.run_init) RunInit(p);
  ExecCommand(p, p.tty ? OpenTty(p) : -1);
}

}  // namespace cb::sandbox::linux_impl
