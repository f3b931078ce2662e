// Test fixture: a busybox root filesystem, overlays over it, and a helper that runs a command
// in the sandbox and captures its output.
#pragma once

#include <string>
#include <vector>

#include "sandbox/sandbox.h"

namespace cb::sandbox::testing {

/// Why the sandbox tests cannot run here ("" when they can): not root, no namespaces,
/// no busybox, no overlayfs.
std::string SkipReason();

/// A lowerdir with a static busybox and its applet links, built once per test process.
const std::string& BusyboxLower();

/// A fresh temp dir with upper/, work/ and root/ for one overlay over BusyboxLower().
/// Removed (after unmounting nothing: mounts live only in the sandbox) on destruction.
class OverlayRoot {
 public:
  OverlayRoot();
  ~OverlayRoot();
  OverlayRoot(const OverlayRoot&) = delete;
  OverlayRoot& operator=(const OverlayRoot&) = delete;

  const std::string& dir() const { return dir_; }
  std::string upper() const { return dir_ + "/upper"; }
  /// A spec with the overlay as mounts[0], PATH set, and `argv`.
  SandboxSpec Spec(std::vector<std::string> argv) const;

 private:
  std::string dir_;
};

struct RunOutput {
  bool ok = false;      ///< Run returned a value (not an Error)
  int code = -1;        ///< exit code when ok
  std::string error;    ///< Error message when !ok
  std::string out, err; ///< captured stdout / stderr
};

/// Runs `spec` with stdout/stderr replaced by pipes that are read concurrently.
RunOutput RunCaptured(SandboxSpec spec);

/// Lines of /proc/self/mountinfo that mention `needle`.
std::vector<std::string> MountLinesWith(const std::string& needle);

/// Shell-quoted `sh -c` argv.
std::vector<std::string> Sh(const std::string& script);

/// A host directory with a few files and a digest-like snapshot of its content, to check
/// that a sandboxed command did not change the host.
class Canary {
 public:
  Canary();
  ~Canary();
  const std::string& dir() const { return dir_; }
  /// "name:size:mode:content" of every entry, sorted; compare before/after.
  std::string Snapshot() const;

 private:
  std::string dir_;
};

}  // namespace cb::sandbox::testing
