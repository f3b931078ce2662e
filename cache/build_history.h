// BuildHistory: what each step was built from the last time it ran (like ninja's build log),
// so that a cache miss can name the first input that differs: the instruction, the state
// below, an ARG/ENV value, a file of the context. It also tells COPY reuse which layer the
// last build of a step made. Records hold no host path: only what the step saw (instruction
// text, keys, env, context-relative sources and listing).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/file_listing.h"
#include "common/result.h"

namespace cb::cache {

class BlobStore;
class MetadataStore;

/// The inputs of one run of a step.
struct StepRecord {
  std::string text;                   ///< the instruction as written
  Digest parent;                      ///< key of the state the step ran on (the --link marker for --link)
  Digest key;                         ///< the step's cache key
  std::vector<std::string> env;       ///< "K=V" the step saw (ARG and ENV values)
  std::vector<std::string> sources;   ///< COPY's context sources after wildcard expansion
  /// The listing of the context files the step read; nullopt when it read none (or, loaded,
  /// when the listing is no longer stored).
  std::optional<std::vector<ContextFile>> files;
  bool operator==(const StepRecord&) const = default;
};

/// Where the step runs in this build, for wording a miss.
struct MissContext {
  bool no_cache = false;   ///< --no-cache: every step misses for that reason
  int number = 0;          ///< the step's number ("#N")
  int index_in_stage = 0;  ///< 1-based; 1 is the FROM
  int last_rebuilt = 0;    ///< number of the stage's latest step that was not cached (0: none)
};

/// The first input of `now` that differs from `prev`, worded for the user ("the instruction
/// changed (was `…`)", "the base image changed", "the previous step (#3) was rebuilt",
/// "ARG/ENV V changed: `1` → `2`", "file `a.txt` changed", "--no-cache", …); "" when there is
/// no previous run to compare with.
std::string ExplainMiss(const std::optional<StepRecord>& prev, const StepRecord& now, const MissContext& ctx);

/// True when `prev` ran the same instruction on the same state with the same ARG/ENV values
/// and sources: only the content of the files can differ (what COPY reuse needs).
bool SameButFiles(const StepRecord& prev, const StepRecord& now);

/// Records are kept per step slot: an id the caller derives from what identifies "this step
/// of this Dockerfile in this context" across builds. Thread-safe.
class BuildHistory {
 public:
  virtual ~BuildHistory() = default;
  /// The last record saved for `slot`; nullopt when none (or unreadable).
  virtual Result<std::optional<StepRecord>> Load(const Digest& slot) = 0;
  /// Replaces the record of `slot`.
  virtual Status Save(const Digest& slot, const StepRecord& rec) = 0;
};

/// History in a store root: a JSON record in MetadataStore's cache table under the slot id
/// (text, parent, key, env, sources, and the listing as a blob digest), the listing as a blob.
/// Both stores must outlive the history.
std::unique_ptr<BuildHistory> NewStoreBuildHistory(MetadataStore& meta, BlobStore& blobs);

/// In memory, for tests. Like the store's, an empty listing is kept as none.
class MemoryBuildHistory : public BuildHistory {
 public:
  Result<std::optional<StepRecord>> Load(const Digest& slot) override;
  Status Save(const Digest& slot, const StepRecord& rec) override;
  std::map<Digest, StepRecord> records() const;

 private:
  mutable std::mutex mu_;
  std::map<Digest, StepRecord> records_;
};

}  // namespace cb::cache
