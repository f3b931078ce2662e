// Sandbox: runs one process in fresh Linux namespaces on a prepared root filesystem.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "snapshotter/mount.h"

namespace cb::executor {

enum class NetworkMode { kHost, kNone };

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
  /// Optional cancellation: when this fd becomes readable (a byte, or EOF of a pipe), the
  /// command gets SIGTERM (forwarded by the sandbox init) and, `stop_timeout_ms` later,
  /// everything in the sandbox is SIGKILLed. Run then returns the resulting status (usually
  /// 143, or 137 after the kill). -1: no cancellation.
  int cancel_fd = -1;
  int stop_timeout_ms = 10000;
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

}  // namespace cb::executor
