#include "sandbox/linux/plan_builder.h"

#include <linux/filter.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "common/env_list.h"
#include "common/fs.h"
#include "sandbox/linux/mount_options.h"
#include "sandbox/linux/seccomp_profile.h"

namespace cb::sandbox::linux_impl {
namespace {

// Docker's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
// NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
constexpr uint64_t kDockerDefaultCaps = 0xa80425fbULL;

}  // namespace

const char* PlanBuilder::Str(std::string s) {
  strings_.push_back(std::move(s));
  return strings_.back().c_str();
}

int PlanBuilder::Step(std::string text) {
  steps_.push_back(std::move(text));
  return static_cast<int>(steps_.size() - 1);
}

const std::string& PlanBuilder::StepText(int step) const {
  static const std::string kUnknown = "set up sandbox";
  if (step < 0 || static_cast<size_t>(step) >= steps_.size()) return kUnknown;
  return steps_[static_cast<size_t>(step)];
}

ChildOp& PlanBuilder::Add(OpKind kind, std::string step_text) {
  ChildOp op;
  op.kind = kind;
  op.step = Step(std::move(step_text));
  ops_.push_back(op);
  return ops_.back();
}

int PlanBuilder::NewSlot() { return slots_used_++; }

Status PlanBuilder::Build(const SandboxSpec& spec) {
  if (spec.argv.empty()) return MakeError(ErrorCode::kInvalidArgument, "sandbox: empty argv");
  if (spec.mounts.empty() || spec.mounts[0].target != "/")
    return MakeError(ErrorCode::kInvalidArgument, "sandbox: the first mount must target `/`");
  if (spec.rootfs_dir.empty() || spec.rootfs_dir[0] != '/')
    return MakeError(ErrorCode::kInvalidArgument, "sandbox: rootfs_dir `{}` is not absolute",
                     spec.rootfs_dir);
  if (spec.cwd.empty() || spec.cwd[0] != '/')
    return MakeError(ErrorCode::kInvalidArgument, "sandbox: cwd `{}` is not absolute", spec.cwd);
  Step("prepare sandbox file descriptors");  // step 0, used by the child's fd setup
  Add(OpKind::kMakePrivate, "make `/` private in the sandbox mount namespace");
  if (spec.network != NetworkMode::kHost) Add(OpKind::kLoopbackUp, "bring up `lo`");
  CB_TRY(AddRootMount(spec));
  CB_TRY(AddPrePivotMounts(spec));
  Add(OpKind::kPivotRoot, fmt::format("pivot_root into `{}`", spec.rootfs_dir)).a =
      Str(spec.rootfs_dir);
  AddSystemMounts(spec);
  AddUserMounts(spec);
  AddEtcFiles(spec);
  AddHardening(spec);
  ChildOp& host = Add(OpKind::kSetHostname, fmt::format("set hostname `{}`", spec.hostname));
  host.a = Str(spec.hostname);
  if (spec.read_only_rootfs) Add(OpKind::kRemountRootRo, "make the root read-only");
  CB_TRY(AddProcess(spec));
  if (slots_used_ > kMaxSlots)
    return MakeError(ErrorCode::kInvalidArgument, "sandbox: too many mounts ({})", slots_used_);
  plan_.ops = ops_.data();
  plan_.op_count = ops_.size();
  return Ok();
}

Status PlanBuilder::AddRootMount(const SandboxSpec& spec) {
  const snapshotter::Mount& m = spec.mounts[0];
  MountOptions o = ParseMountOptions(m.options);
  ChildOp& op = Add(OpKind::kMountHost, fmt::format("mount {} on `{}`", m.type, spec.rootfs_dir));
  op.b = Str(spec.rootfs_dir);
  if (m.type == "bind" || o.bind) {
    op.a = Str(m.source);
    op.flags = MS_BIND | MS_REC;
    op.recursive = true;
    op.read_only = o.read_only;
    op.nodev = spec.hardened;
  } else {
    op.a = Str(m.source.empty() ? m.type : m.source);
    op.c = Str(m.type);
    op.flags = o.flags | (spec.hardened ? MS_NODEV : 0);
    op.d = Str(o.joined);
  }
  return Ok();
}

Status PlanBuilder::AddPrePivotMounts(const SandboxSpec& spec) {
  for (const char* dev : {"null", "zero", "full", "random", "urandom", "tty"}) {
    ChildOp& op = Add(OpKind::kOpenTree, fmt::format("bind host `/dev/{}`", dev));
    op.a = Str(fmt::format("/dev/{}", dev));
    op.slot = NewSlot();
    op.optional = std::strcmp(dev, "tty") == 0;  // absent on some hosts
    dev_slots_.push_back(op.slot);
  }
  // proc is mounted before pivot_root: in a user namespace the kernel only allows it while
  // a fully visible proc (the host's, in the old root) is still in the mount namespace.
  ChildOp& proc = Add(OpKind::kFsMount, "mount proc");
  proc.c = Str("proc");
  proc.d = Str(std::string(1, '\0'));
  proc.data_len = 1;
  proc.flags = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
  proc.slot = proc_slot_ = NewSlot();
  ChildOp& sys = Add(OpKind::kFsMount, "mount sysfs");
  sys.c = Str("sysfs");
  sys.d = Str(std::string(1, '\0'));
  sys.data_len = 1;
  sys.flags = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
  sys.optional = true;
  sys.slot = sys_slot_ = NewSlot();
  ChildOp& sysb = Add(OpKind::kOpenTree, "bind host `/sys` read-only");
  sysb.a = Str("/sys");
  sysb.recursive = true;
  sysb.read_only = true;
  sysb.optional = true;
  sysb.slot = sys_fallback_slot_ = NewSlot();

  for (size_t i = 1; i < spec.mounts.size(); ++i) {
    const snapshotter::Mount& m = spec.mounts[i];
    if (m.target.empty() || m.target[0] != '/')
      return MakeError(ErrorCode::kInvalidArgument, "sandbox: mount target `{}` is not absolute",
                       m.target);
    MountOptions o = ParseMountOptions(m.options);
    if (m.type == "bind" || o.bind) {
      ChildOp& op = Add(OpKind::kOpenTree, fmt::format("bind `{}` on `{}`", m.source, m.target));
      op.a = Str(m.source);
      op.recursive = o.recursive || !o.bind;
      op.read_only = o.read_only;
      op.slot = NewSlot();
      user_mount_slots_.push_back(op.slot);
    } else {
      ChildOp& op = Add(OpKind::kFsMount, fmt::format("mount {} on `{}`", m.type, m.target));
      op.c = Str(m.type);
      std::string packed = PackFsConfig(o.data, m.type == "overlay" ? "" : m.source);
      op.data_len = packed.size();
      op.d = Str(std::move(packed));
      op.flags = o.attr_flags;
      op.slot = NewSlot();
      user_mount_slots_.push_back(op.slot);
    }
  }
  return Ok();
}

void PlanBuilder::AddSystemMounts(const SandboxSpec&) {
  auto mount = [&](const char* type, const char* target, unsigned long flags, const char* data) {
    ChildOp& op = Add(OpKind::kMount, fmt::format("mount {} on `{}`", type, target));
    op.a = type;
    op.b = target;
    op.c = type;
    op.flags = flags;
    op.d = data;
    return std::ref(op);
  };
  constexpr unsigned long kSafe = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  ChildOp& proc = Add(OpKind::kMoveMount, "mount proc on `/proc`");
  proc.b = "/proc";
  proc.slot = proc_slot_;
  // nodev: device nodes made with mknod cannot be opened (the bound ones are mounts of
  // their own and keep working), which stands in for Docker's device cgroup.
  mount("tmpfs", "/dev", MS_NOSUID | MS_NODEV | MS_STRICTATIME, "mode=755,size=65536k");
  const char* devs[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
                        "/dev/tty"};
  for (size_t i = 0; i < dev_slots_.size(); ++i) {
    ChildOp& op = Add(OpKind::kMoveMount, fmt::format("bind `{}`", devs[i]));
    op.b = devs[i];
    op.slot = dev_slots_[i];
    op.file = true;
    op.optional = std::strcmp(devs[i], "/dev/tty") == 0;
  }
  mount("devpts", "/dev/pts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
  mount("tmpfs", "/dev/shm", kSafe, "mode=1777,size=65536k");
  mount("mqueue", "/dev/mqueue", kSafe, nullptr).get().optional = true;
  auto link = [&](const char* from, const char* to) {
    ChildOp& op = Add(OpKind::kSymlink, fmt::format("symlink `{}`", to));
    op.a = from;
    op.b = to;
  };
  link("pts/ptmx", "/dev/ptmx");
  link("/proc/self/fd", "/dev/fd");
  link("/proc/self/fd/0", "/dev/stdin");
  link("/proc/self/fd/1", "/dev/stdout");
  link("/proc/self/fd/2", "/dev/stderr");
  ChildOp& sys = Add(OpKind::kMountSlotOrElse, "mount sysfs on `/sys` read-only");
  sys.b = "/sys";
  sys.slot = sys_slot_;
  sys.slot2 = sys_fallback_slot_;
}

void PlanBuilder::AddUserMounts(const SandboxSpec& spec) {
  for (size_t i = 1; i < spec.mounts.size(); ++i) {
    const snapshotter::Mount& m = spec.mounts[i];
    ChildOp& op = Add(OpKind::kMoveMount, fmt::format("mount `{}` on `{}`", m.source, m.target));
    op.b = Str(m.target);
    op.slot = user_mount_slots_[i - 1];
    struct stat st;
    MountOptions o = ParseMountOptions(m.options);
    op.file = (m.type == "bind" || o.bind) && ::stat(m.source.c_str(), &st) == 0 &&
              !S_ISDIR(st.st_mode);
  }
}

void PlanBuilder::AddEtcFiles(const SandboxSpec& spec) {
  if (!spec.provide_etc_files) return;
  std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  if (spec.hostname != "localhost") hosts += fmt::format("127.0.1.1\t{}\n", spec.hostname);
  for (const std::string& h : spec.extra_hosts) hosts += h + "\n";
  std::string resolv;
  if (spec.network == NetworkMode::kDefault) {
    resolv = "nameserver 10.0.2.3\n";
  } else {
    auto host = fs::ReadFile("/etc/resolv.conf");
    if (host) resolv = *host;
  }
  const std::pair<const char*, std::string> files[] = {
      {"hosts", hosts}, {"resolv.conf", resolv}, {"hostname", spec.hostname + "\n"}};
  Add(OpKind::kMkdir, "create `/dev/.cbuild-etc`").b = "/dev/.cbuild-etc";
  for (const auto& [name, content] : files) {
    std::string staged = fmt::format("/dev/.cbuild-etc/{}", name);
    // Add() may reallocate ops_: no ChildOp reference is used after the next Add().
    const char* staged_path = Str(staged);
    ChildOp& w = Add(OpKind::kWriteFile, fmt::format("write `{}`", staged));
    w.b = staged_path;
    w.data_len = content.size();
    w.d = Str(content);
    ChildOp& b = Add(OpKind::kBindFile, fmt::format("bind `/etc/{}`", name));
    b.a = staged_path;
    b.b = Str(fmt::format("/etc/{}", name));
    b.optional = true;  // e.g. a read-only root without /etc
    Add(OpKind::kUnlink, fmt::format("remove `{}`", staged)).b = staged_path;
  }
  Add(OpKind::kUnlink, "remove `/dev/.cbuild-etc`").b = "/dev/.cbuild-etc";
}

void PlanBuilder::AddHardening(const SandboxSpec& spec) {
  if (!spec.hardened) return;
  static constexpr const char* kMasked[] = {
      "/proc/asound",     "/proc/acpi",        "/proc/interrupts", "/proc/kcore",
      "/proc/keys",       "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
      "/proc/sched_debug", "/proc/scsi",
      "/sys/firmware",    "/sys/devices/virtual/powercap", "/sys/kernel/security"};
  static constexpr const char* kReadOnly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                              "/proc/sysrq-trigger"};
  for (const char* p : kMasked) Add(OpKind::kMaskPath, fmt::format("mask `{}`", p)).b = p;
  for (const char* p : kReadOnly)
    Add(OpKind::kReadOnlyPath, fmt::format("make `{}` read-only", p)).b = p;
}

Status PlanBuilder::AddProcess(const SandboxSpec& spec) {
  for (const std::string& c : ExecCandidates(spec.argv[0], spec.env)) candidates_.push_back(Str(c));
  candidates_.push_back(nullptr);
  for (const std::string& a : spec.argv) argv_.push_back(const_cast<char*>(Str(a)));
  argv_.push_back(nullptr);
  for (const std::string& e : spec.env) envp_.push_back(const_cast<char*>(Str(e)));
  envp_.push_back(nullptr);
  plan_.exec_candidates = candidates_.data();
  plan_.argv = argv_.data();
  plan_.envp = envp_.data();
  plan_.cwd = Str(spec.cwd);
  plan_.cwd_step = Step(fmt::format("enter working directory `{}`", spec.cwd));
  plan_.cwd_escape_step =
      Step(fmt::format("working directory `{}` is outside the container root", spec.cwd));
  plan_.uid = spec.uid;
  plan_.gid = spec.gid;
  for (unsigned g : spec.extra_gids) groups_.push_back(static_cast<gid_t>(g));
  plan_.groups = groups_.data();
  plan_.group_count = groups_.size();
  plan_.creds_step = Step(fmt::format("switch to user {}:{}", spec.uid, spec.gid));
  plan_.caps_step = Step("drop capabilities");
  plan_.seccomp_step = Step("install seccomp filter");
  plan_.rlimit_step = Step("set resource limits");
  plan_.fork_step = Step("fork the command from the sandbox init");
  plan_.tty_step = Step("make the terminal the controlling tty");
  plan_.drop_caps = spec.hardened;
  plan_.caps = kDockerDefaultCaps;
  plan_.set_no_new_privs = spec.hardened;
  if (spec.hardened) {
    seccomp_ = CB_TRY(DefaultSeccompProgram());
    plan_.seccomp.filter = seccomp_.data();
    plan_.seccomp.len = static_cast<unsigned short>(seccomp_.size() / sizeof(sock_filter));
  }
  CB_TRY(AddRlimits(spec));
  plan_.run_init = true;
  plan_.tty = spec.tty;
  plan_.tty_owner = spec.uid;
  if (spec.tty) {
    struct winsize ws {};
    if (ioctl(spec.stdin_fd, TIOCGWINSZ, &ws) == 0 || ioctl(spec.stdout_fd, TIOCGWINSZ, &ws) == 0) {
      plan_.tty_rows = ws.ws_row;
      plan_.tty_cols = ws.ws_col;
    }
  }
  return Ok();
}

Status PlanBuilder::AddRlimits(const SandboxSpec& spec) {
  static constexpr std::pair<const char*, int> kNames[] = {
      {"cpu", RLIMIT_CPU},         {"fsize", RLIMIT_FSIZE},     {"data", RLIMIT_DATA},
      {"stack", RLIMIT_STACK},     {"core", RLIMIT_CORE},       {"rss", RLIMIT_RSS},
      {"nproc", RLIMIT_NPROC},     {"nofile", RLIMIT_NOFILE},   {"memlock", RLIMIT_MEMLOCK},
      {"as", RLIMIT_AS},           {"locks", RLIMIT_LOCKS},     {"sigpending", RLIMIT_SIGPENDING},
      {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},     {"rtprio", RLIMIT_RTPRIO},
      {"rttime", RLIMIT_RTTIME}};
  std::vector<Ulimit> limits = spec.ulimits;
  if (limits.empty()) {
    // Docker's 1048576, within what this process may set (raising the hard limit needs
    // CAP_SYS_RESOURCE, which a containerized cbuild may lack).
    struct rlimit cur {};
    getrlimit(RLIMIT_NOFILE, &cur);
    uint64_t hard = std::min<uint64_t>(1048576, cur.rlim_max);
    limits.push_back({"nofile", hard, hard});
  }
  for (const Ulimit& u : limits) {
    int resource = -1;
    for (const auto& [name, r] : kNames)
      if (u.name == name) resource = r;
    if (resource < 0)
      return MakeError(ErrorCode::kInvalidArgument, "sandbox: unknown ulimit `{}`", u.name);
    if (u.soft > u.hard)
      return MakeError(ErrorCode::kInvalidArgument, "sandbox: ulimit `{}`: soft {} > hard {}",
                       u.name, u.soft, u.hard);
    rlimits_.push_back({resource, u.soft, u.hard});
  }
  plan_.rlimits = rlimits_.data();
  plan_.rlimit_count = rlimits_.size();
  return Ok();
}

std::vector<std::string> ExecCandidates(const std::string& argv0,
                                        const std::vector<std::string>& env) {
  if (argv0.find('/') != std::string::npos) return {argv0};
  std::string path = env::Get(env, "PATH").value_or(std::string(env::kDefaultPath));
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t end = path.find(':', start);
    std::string dir = path.substr(start, end == std::string::npos ? end : end - start);
    out.push_back((dir.empty() ? std::string(".") : dir) + "/" + argv0);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

}  // namespace cb::sandbox::linux_impl
