// TransferProgress: what pull and push tell the user about blobs, and two renderers.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "common/digest.h"

namespace cb::registry {

/// Implementations are thread-safe (blobs move on several threads).
class TransferProgress {
 public:
  virtual ~TransferProgress() = default;
  /// A line of its own ("Pulling from docker.io/library/busybox").
  virtual void Note(const std::string& line) = 0;
  /// A blob starts moving (`size` bytes).
  virtual void Start(const Digest& d, int64_t size) = 0;
  virtual void Advance(const Digest& d, int64_t bytes) = 0;
  /// The blob is done; `status` is what to show ("Pull complete", "Already exists", "Mounted from x").
  virtual void Finish(const Digest& d, const std::string& status) = 0;
  /// A failed attempt that will be retried.
  virtual void Retry(const Digest& d, const std::string& why) = 0;
};

/// Writes to `out`: on a terminal, one redrawn bar per blob (at most 10 redraws a second);
/// elsewhere one line per finished blob.
std::unique_ptr<TransferProgress> NewTerminalProgress(FILE* out, bool tty);
/// Says nothing.
std::unique_ptr<TransferProgress> NewSilentProgress();

/// "12.3MB", "512kB", "17B" (decimal units, as docker prints them).
std::string HumanSize(int64_t bytes);

}  // namespace cb::registry
