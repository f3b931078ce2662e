// Progress reporting for builds. Implementations are thread-safe: steps of parallel stages
// report at the same time.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

namespace cb::executor {

class Progress {
 public:
  virtual ~Progress() = default;
  /// "#N [label] TEXT"
  virtual void Started(int n, const std::string& label, const std::string& text) = 0;
  virtual void Cached(int n) = 0;
  /// Why the step's cache missed (only when an earlier build of it is known).
  virtual void CacheMiss(int n, const std::string& reason) = 0;
  /// One line of the step's output (without the newline).
  virtual void Output(int n, const std::string& line) = 0;
  virtual void Done(int n, double seconds) = 0;
  virtual void Failed(int n, const std::string& message) = 0;
  /// A line not tied to a step ("writing image sha256:... done").
  virtual void Note(const std::string& line) = 0;
};

/// BuildKit-style plain text, one line per event.
std::unique_ptr<Progress> NewPlainProgress(std::FILE* out);
/// Discards everything (--quiet, tests).
std::unique_ptr<Progress> NewNullProgress();

}  // namespace cb::executor
