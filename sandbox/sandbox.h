// Sandbox: runs one process in fresh Linux namespaces on a prepared root filesystem.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/network_mode.h"
#include "common/result.h"
#include "snapshotter/mount.h"

namespace cb::sandbox {

/// The common network modes (common/network_mode.h); with kDefault, Run fails with an Error
/// when slirp4netns is not installed.
using cb::NetworkMode;

/// A resource limit like `docker run --ulimit nofile=1024:2048`.
struct Ulimit {
  std::string name;  ///< "nofile", "nproc", "core", "stack", "memlock", "fsize", "cpu", ...
  uint64_t soft = 0, hard = 0;
};

struct SandboxSpec {
  /// Mounted, in order, in the sandbox's own mount namespace. The first one has target "/"
  /// and becomes the root (e.g. an overlay of the snapshot's layers).
  std::vector<snapshotter::Mount> mounts;
  /// An empty host directory the sandbox may use as the mount point of the new root.
  std::string rootfs_dir;
  std::vector<std::string> argv;  ///< argv[0] is looked up in PATH from `env` if it has no '/'
  std::vector<std::string> env;   ///< "K=V"
  std::string cwd = "/";          ///< inside the root; created if missing
  std::string hostname = "cbuild";
  NetworkMode network = NetworkMode::kHost;
  unsigned uid = 0, gid = 0;
  int stdin_fd = -1;   ///< -1: /dev/null
  int stdout_fd = 1;
  int stderr_fd = 2;
  /// Optional cancellation / signal forwarding. Each byte read from this fd is a signal
  /// number (1..31, e.g. SIGINT from a Ctrl-C handler) forwarded to the command by the
  /// sandbox init; any other byte, or EOF, means SIGTERM. `stop_timeout_ms` after the first
  /// one, everything in the sandbox is SIGKILLed. Run then returns the resulting status
  /// (130 for SIGINT, 143 for SIGTERM, 137 after the kill). -1: none. A signal handler can
  /// simply write(2) the signal number to the write end of a pipe.
  int cancel_fd = -1;
  int stop_timeout_ms = 10000;

  /// Supplementary groups of the command (besides `gid`).
  std::vector<unsigned> extra_gids;
  /// Allocate a pseudo-terminal inside the sandbox (like `docker run -t`): the command gets
  /// its slave as stdin/stdout/stderr and controlling tty; Run copies stdin_fd -> pty (when
  /// stdin_fd >= 0, i.e. `-i`) and pty -> stdout_fd. stderr_fd is unused. The pty's initial
  /// size is taken from stdin_fd (or stdout_fd) when that is a terminal.
  bool tty = false;
  /// With `tty`: when readable, Run drains it and copies the window size of stdin_fd (or
  /// stdout_fd) to the pty (the CLI writes a byte here from its SIGWINCH handler). -1: none.
  int winch_fd = -1;
  /// Make the root filesystem read-only (other mounts keep their own options).
  bool read_only_rootfs = false;
  /// Maximum number of processes in the sandbox (a pids cgroup); 0 = unlimited. Silently
  /// not enforced where no pids cgroup controller is available (see docs/sandbox.md).
  int64_t pids_limit = 8192;
  /// Resource limits; when empty, Docker's defaults (nofile 1048576:1048576).
  std::vector<Ulimit> ulimits;
  /// Provide /etc/hosts (localhost + hostname), /etc/resolv.conf (the host's, or slirp's
  /// DNS for kDefault) and /etc/hostname as bind mounts that never reach the snapshot's
  /// lower layers (an image without these files gets empty mount-point files in its upper).
  bool provide_etc_files = true;
  /// Extra /etc/hosts lines ("1.2.3.4 name"), like `--add-host`.
  std::vector<std::string> extra_hosts;
  /// Run in a new user namespace (always when cbuild is not root). Container id 0 is the
  /// calling user; with newuidmap/newgidmap and an /etc/subuid (/etc/subgid) entry, ids 1..N
  /// map to the user's subordinate range, else only id 0 exists. As root, ids 0..65535 map to
  /// themselves: files keep their owners, capabilities only count inside the namespaces.
  bool user_namespace = false;
  /// Security profile: Docker's default capabilities, no_new_privs, the default seccomp
  /// filter, masked and read-only /proc paths. false only for debugging the sandbox itself.
  bool hardened = true;
};

/// Result of a finished process, as `docker run` reports it.
struct ExitStatus {
  int code = 0;  ///< exit code; 128+N when killed by signal N; 127 command not found,
                 ///< 126 not executable
};

/// Runs processes in new mount/pid/uts/ipc namespaces. Run blocks until the process (PID 1 of
/// the sandbox) exits; every process of the sandbox is gone and nothing stays mounted on the
/// host afterwards. An Error means the sandbox itself could not be set up (callers map that
/// to exit 125). Thread-safe: several Runs may proceed at once.
class Sandbox {
 public:
  virtual ~Sandbox() = default;
  virtual Result<ExitStatus> Run(const SandboxSpec& spec) = 0;
};

std::unique_ptr<Sandbox> NewLinuxSandbox();

/// Removes what sandboxes of cbuild processes that no longer exist left behind after a
/// SIGKILL (their pids cgroups). Mounts and processes never outlive their sandbox: they
/// live in namespaces that die with it. Safe to call at every start; never touches the
/// state of a cbuild process that is still running.
Status CleanupStaleSandboxes();

}  // namespace cb::sandbox
