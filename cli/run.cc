// `cbuild run`: a container from an image, in the sandbox, on a throwaway writable layer —
// flags and exit codes as `docker run` (docs/run.md).
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <optional>

#include <fmt/core.h>

#include "cli/cli_options.h"
#include "cli/common.h"
#include "cli/verbs.h"
#include "common/cancel.h"
#include "common/digest.h"
#include "common/env_list.h"
#include "common/fs.h"
#include "common/key_value.h"
#include "common/unique_fd.h"
#include "sandbox/host_mount.h"
#include "sandbox/sandbox.h"
#include "executor/step_exec.h"
#include "registry/registry.h"

namespace cb::cli {
namespace {

constexpr int kRunFailed = 125;  // cbuild itself failed, as `docker run`

int RunFail(const std::string& msg) {
  fmt::print(stderr, "cbuild: {}\n", msg);
  return kRunFailed;
}

std::vector<std::string> Argv(const image::ContainerConfig& c, const RunOptions& o) {
  std::vector<std::string> argv;
  if (o.entrypoint_set) {
    if (!o.entrypoint.empty()) argv.push_back(o.entrypoint);
  } else if (c.entrypoint) {
    argv = *c.entrypoint;
  }
  if (!o.args.empty()) {
    argv.insert(argv.end(), o.args.begin(), o.args.end());
  } else if (c.cmd && !o.entrypoint_set) {
    argv.insert(argv.end(), c.cmd->begin(), c.cmd->end());
  }
  return argv;
}

/// The image's environment, then Docker's additions (PATH, HOSTNAME, TERM with -t, HOME), then -e.
std::vector<std::string> Env(image::ImageConfig cfg, const RunOptions& o, const std::string& hostname,
                             const std::string& home) {
  if (!env::Has(cfg.config.env, "PATH")) cfg.config.env.insert(cfg.config.env.begin(), env::DefaultPathEntry());
  cfg.SetEnv("HOSTNAME", hostname);
  if (o.tty) cfg.SetEnv("TERM", "xterm");
  for (const auto& kv : o.env) {
    auto [name, value] = SplitKeyValue(kv);
    if (value) {
      cfg.SetEnv(name, *value);
    } else if (const char* v = std::getenv(name.c_str())) {
      cfg.SetEnv(name, v);  // `-e NAME` passes the caller's value, as Docker
    }
  }
  if (!env::Has(cfg.config.env, "HOME")) cfg.SetEnv("HOME", home);
  return cfg.config.env;
}

/// `-v SRC:DST[:ro|rw]`: an absolute host path (a missing one is created as a directory, as
/// Docker does) bound on an absolute container path.
Result<snapshotter::Mount> ParseVolume(const std::string& v) {
  std::vector<std::string> parts;
  for (size_t i = 0;;) {
    size_t j = v.find(':', i);
    parts.push_back(v.substr(i, j == std::string::npos ? std::string::npos : j - i));
    if (j == std::string::npos) break;
    i = j + 1;
  }
  if (parts.size() < 2 || parts.size() > 3)
    return MakeError(ErrorCode::kInvalidArgument, "-v `{}`: expected HOST-PATH:CONTAINER-PATH[:ro]", v);
  const std::string &src = parts[0], &dst = parts[1];
  if (src.empty() || src[0] != '/')
    return MakeError(ErrorCode::kUnsupported, "-v `{}`: the host path must be absolute (named volumes are not supported)", v);
  if (dst.empty() || dst[0] != '/')
    return MakeError(ErrorCode::kInvalidArgument, "-v `{}`: the container path `{}` must be absolute", v, dst);
  snapshotter::Mount m{"bind", src, dst, {"rbind"}};
  if (parts.size() == 3) {
    for (size_t i = 0; i <= parts[2].size();) {
      size_t j = parts[2].find(',', i);
      if (j == std::string::npos) j = parts[2].size();
      std::string opt = parts[2].substr(i, j - i);
      if (opt == "ro") {
        m.options.push_back("ro");
      } else if (opt != "rw" && opt != "z" && opt != "Z") {
        return MakeError(ErrorCode::kInvalidArgument, "-v `{}`: unknown option `{}` (ro or rw)", v, opt);
      }
      i = j + 1;
    }
  }
  if (!fs::Exists(src)) CB_TRY_CTX(fs::MakeDirs(src), "-v `{}`: create host directory", v);
  return m;
}

/// A container id's first 12 hex digits, Docker's default hostname.
std::string ShortId() {
  unsigned char b[6] = {};
  if (::getrandom(b, sizeof b, 0) != sizeof b) {
    unsigned v = static_cast<unsigned>(::getpid());
    std::memcpy(b, &v, sizeof v);
  }
  std::string out;
  for (unsigned char c : b) out += fmt::format("{:02x}", c);
  return out;
}

/// --name NAME: held as an flock'ed file <root>/containers/NAME while the container runs, so
/// that a second `run --name NAME` fails like Docker's "already in use"; removed at the end.
class NameLock {
 public:
  static Result<NameLock> Take(const std::string& root, const std::string& name) {
    if (name.empty()) return NameLock();
    if (name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != std::string::npos ||
        !std::isalnum(static_cast<unsigned char>(name[0])))
      return MakeError(ErrorCode::kInvalidArgument, "invalid container name `{}`: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name);
    CB_TRY(fs::MakeDirs(root + "/containers"));
    std::string path = root + "/containers/" + name;
    for (;;) {
      UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
      if (!fd) return ErrnoError(errno, fmt::format("open `{}`", path));
      if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0)
        return MakeError(ErrorCode::kExists, "the container name `{}` is already in use by a running `cbuild run`", name);
      struct stat held, now;
      if (::fstat(fd.get(), &held) == 0 && ::stat(path.c_str(), &now) == 0 && held.st_ino == now.st_ino) {
        NameLock l;
        l.path_ = path;
        l.fd_ = std::move(fd);
        return l;
      }
      // The previous holder removed the file between our open and flock: try again.
    }
  }
  NameLock() = default;
  NameLock(NameLock&&) = default;
  NameLock& operator=(NameLock&&) = default;
  ~NameLock() {
    if (fd_) ::unlink(path_.c_str());  // still locked: nobody else can hold this inode
  }

 private:
  std::string path_;
  UniqueFd fd_;
};

/// `-it` on a terminal: raw mode while the container runs, restored on every way out.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) {
    if (!::isatty(fd) || ::tcgetattr(fd, &saved_) != 0) return;
    struct termios raw = saved_;
    ::cfmakeraw(&raw);
    raw.c_oflag |= OPOST | ONLCR;  // keep "\n" → "\r\n" for cbuild's own messages
    if (::tcsetattr(fd, TCSADRAIN, &raw) == 0) fd_ = fd;
  }
  ~RawTerminal() {
    if (fd_ >= 0) ::tcsetattr(fd_, TCSADRAIN, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  int fd_ = -1;
  struct termios saved_ {};
};

int g_winch_write = -1;

void OnWinch(int) {
  int saved = errno;
  char b = 1;
  if (g_winch_write >= 0) (void)!::write(g_winch_write, &b, 1);
  errno = saved;
}

/// A pipe that gets a byte on every SIGWINCH (the sandbox then copies the window size).
UniqueFd WatchWindowSize() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return UniqueFd();
  g_winch_write = p[1];  // kept open for the life of the process
  struct sigaction sa {};
  sa.sa_handler = OnWinch;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGWINCH, &sa, nullptr);
  return UniqueFd(p[0]);
}

/// Everything the sandbox needs, from the options and the image; errors are exit 125.
struct Prepared {
  sandbox::SandboxSpec spec;
  std::unique_ptr<snapshotter::ActiveSnapshot> snap;
};

Result<Prepared> Prepare(store::Store& store, const RunOptions& o) {
  if (!o.workdir.empty() && o.workdir[0] != '/')
    return MakeError(ErrorCode::kInvalidArgument, "the working directory `{}` is invalid: it must be an absolute path", o.workdir);
  std::vector<snapshotter::Mount> volumes;
  for (const auto& v : o.volumes) volumes.push_back(CB_TRY(ParseVolume(v)));
  auto img = CB_TRY(registry::ResolveOrPull(o.image, {store.blobs(), store.meta(), store.images()}));
  CB_TRY(store.EnsureSnapshots(img));
  Prepared p;
  p.snap = CB_TRY(store.snapshots().Prepare(img.config.diff_ids));
  sandbox::SandboxSpec& spec = p.spec;
  spec.argv = Argv(img.config.config, o);
  if (spec.argv.empty())
    return MakeError(ErrorCode::kInvalidArgument, "image `{}` has no command to run: give one after the image name", o.image);
  std::string user = !o.user.empty() ? o.user : img.config.config.user;
  executor::Identity id = CB_TRY_CTX(executor::IdentityIn(*p.snap, user.empty() ? "0" : user, false),
                                     "user `{}`", user.empty() ? "root" : user);
  spec.uid = id.uid;
  spec.gid = id.gid;
  spec.extra_gids = id.extra_gids;
  spec.mounts = {p.snap->RootMount()};
  spec.mounts.insert(spec.mounts.end(), volumes.begin(), volumes.end());
  spec.rootfs_dir = p.snap->rootfs();
  spec.hostname = o.hostname.empty() ? ShortId() : o.hostname;  // Docker: the short container id
  spec.env = Env(img.config, o, spec.hostname, id.home.empty() ? "/" : id.home);
  spec.cwd = !o.workdir.empty() ? o.workdir
             : img.config.config.working_dir.empty() ? "/" : img.config.config.working_dir;
  spec.network = o.network;
  spec.stdin_fd = o.interactive ? 0 : -1;
  spec.tty = o.tty;
  spec.stop_timeout_ms = cancel::kStopTimeoutMs;
  return p;
}

}  // namespace

int Run(const GlobalOptions& g, const RunOptions& o) {
  if (auto ns = sandbox::EnterPrivateMountNamespace(); !ns)
    return RunFail(fmt::format("run needs root (mount namespaces, overlayfs): {}", ns.error().message));
  if (auto st = cancel::InstallSignalHandlers(); !st) return RunFail(st.error().ToString());
  auto store = OpenStore(g);
  if (!store) return kRunFailed;
  CleanStale(*store);
  auto name = NameLock::Take(g.root, o.name);
  if (!name) return RunFail(name.error().ToString());
  auto prepared = Prepare(*store, o);
  if (!prepared) return RunFail(prepared.error().ToString());
  sandbox::SandboxSpec& spec = prepared->spec;
  cancel::Subscription cancelled;  // SIGINT/SIGTERM/SIGHUP to cbuild go to the container
  spec.cancel_fd = cancelled.fd();
  UniqueFd winch;
  std::optional<RawTerminal> raw;
  if (o.tty) {
    winch = WatchWindowSize();
    spec.winch_fd = winch.get();
    if (o.interactive) raw.emplace(0);  // ^C, ^Z, ^\ become bytes for the container's terminal
  }
  if (cancel::Requested()) return cancel::ExitCode();
  auto status = sandbox::NewLinuxSandbox()->Run(spec);
  raw.reset();
  if (cancel::Requested()) return cancel::ExitCode();
  if (!status) return RunFail(status.error().ToString());
  return status->code;
}

void AddRunVerb(CLI::App& app, const GlobalOptions& g, int& rc) {
  static RunOptions r;
  auto* run = app.add_subcommand(
      "run", "Run a command in a new container from an image, like `docker run --rm`:\n"
             "  cbuild run [OPTIONS] IMAGE [COMMAND] [ARG...]");
  run->add_flag("--rm", r.rm, "Remove the container when it exits (always done: containers are never kept)");
  run->add_flag("-i,--interactive", r.interactive, "Keep stdin attached (without it the command reads /dev/null)");
  run->add_flag("-t,--tty", r.tty,
                "Allocate a pseudo-terminal; with -i on a terminal, the terminal goes raw (^C reaches the container)");
  run->add_option("-e,--env", r.env, "Set an environment variable K=V, or K to pass the caller's value (repeatable)")
      ->allow_extra_args(false);
  run->add_option("-v,--volume", r.volumes, "Bind mount HOST-PATH:CONTAINER-PATH[:ro|rw] (absolute paths; repeatable)")
      ->allow_extra_args(false);
  run->add_option("-w,--workdir", r.workdir, "Working directory inside the container (absolute; created if missing)");
  run->add_option("-u,--user", r.user, "USER[:GROUP], names or ids, resolved in the image's /etc/passwd and /etc/group");
  run->add_option("--entrypoint", r.entrypoint, "Override the image's ENTRYPOINT (one word; \"\" clears it; CMD is dropped)");
  AddNetworkOption(run, r.network, true,
                   "default (own network namespace, outbound NAT through slirp4netns; alias bridge) | none (loopback only) | host");
  run->add_option("--name", r.name, "Container name: unique among running `cbuild run`s of this --root");
  run->add_option("--hostname", r.hostname, "Container host name (default: a random 12-digit hex id, as Docker)");
  run->prefix_command();  // IMAGE and everything after it (the command, flags included) stay unparsed
  run->footer(
      "IMAGE: a name, id or digest. Everything after IMAGE is the command and its arguments (default: the image's ENTRYPOINT + CMD).\n"
      "Exit status: the command's; 125 when cbuild fails before the command starts, 126 when it cannot\n"
      "be executed, 127 when it is not found, 128+N when it is killed by signal N. SIGINT, SIGTERM and\n"
      "SIGHUP to cbuild are forwarded to the command (SIGKILL 5 s later if it is still running);\n"
      "cbuild then exits 130, 143 or 129. See docs/run.md.");
  run->callback([&rc, &g, run] {
    r.entrypoint_set = run->count("--entrypoint") > 0;
    r.args = run->remaining();
    if (r.args.empty() || r.args[0].empty() || r.args[0][0] == '-') {
      rc = Fail(r.args.empty() ? std::string("run: IMAGE is required (cbuild run [OPTIONS] IMAGE [COMMAND] [ARG...])")
                               : "run: unknown flag `" + r.args[0] + "` (see cbuild run --help)") + 1;
      return;
    }
    r.image = r.args[0];
    r.args.erase(r.args.begin());
    rc = Run(g, r);
  });
}

}  // namespace cb::cli
