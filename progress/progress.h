// Progress reporting for builds. Implementations are thread-safe: steps of parallel stages
// report at the same time. Modes (`--progress`): plain (one line per event), tty (a live view
// redrawn in place), json (one event object per line); see docs/build.md.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "common/result.h"
#include "registry/transfer_progress.h"

namespace cb::progress {

class Progress {
 public:
  virtual ~Progress() = default;
  /// "#N [label] TEXT"; label is "[STAGE ]i/n" (or empty).
  virtual void Started(int n, const std::string& label, const std::string& text) = 0;
  virtual void Cached(int n) = 0;
  /// Why the step's cache missed (only when an earlier build of it is known).
  virtual void CacheMiss(int n, const std::string& reason) = 0;
  /// One line of the step's output (without the newline).
  virtual void Output(int n, const std::string& line) = 0;
  virtual void Done(int n, double seconds) = 0;
  virtual void Failed(int n, const std::string& message) = 0;
  /// The step was stopped (a signal, or a sibling stage's failure), not failed by itself.
  /// Plain prints it as a failure ("#N ERROR: interrupted by SIGINT").
  virtual void Canceled(int n, const std::string& message) { Failed(n, message); }
  /// A line not tied to a step ("writing image sha256:... done").
  virtual void Note(const std::string& line) = 0;
  /// Ends a live display, leaving its final summary on screen; later Notes print as lines.
  /// Idempotent. Call before anything else writes to the progress stream (a push's transfer
  /// progress, the error text).
  virtual void Finish() {}
  /// The build failed with `e`. `shown` is the text a person reads for it (with the
  /// Dockerfile excerpt, ending in a newline): plain prints it as is, tty after the final
  /// summary and the failing step's last output lines, json as an "error" event instead.
  virtual void BuildFailed(const Error& e, const std::string& shown) = 0;
  /// Where a base image's pull (before the first step) reports; null: the registry's own
  /// terminal renderer on stderr.
  virtual std::unique_ptr<registry::TransferProgress> Transfers() { return nullptr; }
};

/// BuildKit-style plain text, one line per event.
std::unique_ptr<Progress> NewPlainProgress(std::FILE* out);
/// A live view on the terminal `fd` (ANSI, redrawn at most 10 times a second by one thread,
/// sized with TIOCGWINSZ).
std::unique_ptr<Progress> NewTtyProgress(int fd);
/// One JSON object per line and event, flushed as it happens (see docs/build.md).
std::unique_ptr<Progress> NewJsonProgress(std::FILE* out);
/// Discards everything (tests).
std::unique_ptr<Progress> NewNullProgress();
/// Only the failure text, if the build fails (`build --quiet`, like `docker build -q`).
std::unique_ptr<Progress> NewQuietProgress(std::FILE* out);

/// `--progress` value → the mode used: auto is tty when `fd` is a terminal (and TERM is not
/// "dumb"), else plain; other values are returned as they are.
std::string ResolveProgressMode(const std::string& mode, int fd);
/// The progress for a resolved mode (plain, tty, json, or quiet), writing to stderr.
std::unique_ptr<Progress> NewProgress(const std::string& mode);

}  // namespace cb::progress
