// ContextHasher: content digests of build-context files, as COPY will write them.
#pragma once

#include <string>
#include <vector>

#include "common/digest.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace cb::planner {

/// Reads only the files that COPY sources name; every path is resolved inside the context
/// (symlinks never lead out). Not thread-safe.
class ContextHasher {
 public:
  static Result<ContextHasher> Open(const std::string& context_dir);

  /// A digest over the given sources (paths relative to the context): for every file below
  /// them, its relative path, type, permission bits, and content digest or link target.
  /// Times and owners are left out: COPY writes files as 0:0 and layer times are clamped.
  /// kNotFound names the missing source.
  Result<Digest> HashSources(const std::vector<std::string>& sources);

  int root_fd() const { return root_.get(); }
  const std::string& dir() const { return dir_; }

 private:
  ContextHasher(std::string dir, UniqueFd root) : dir_(std::move(dir)), root_(std::move(root)) {}
  std::string dir_;
  UniqueFd root_;
};

}  // namespace cb::planner
