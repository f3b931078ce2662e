// Builder: Dockerfile + context → image in the store. Wiring only: parse → lower → keys (every
// step's cache key before anything runs) → schedule (executor/scheduler.h: stages in parallel,
// cache lookups, misses run by the store's StepRunner) → assemble the image → tag.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/network_mode.h"
#include "common/result.h"
#include "progress/progress.h"
#include "sandbox/sandbox.h"
#include "store/store.h"
#include "executor/scheduler.h"
#include "image/image_store.h"

namespace cb::executor {

struct BuildRequest {
  std::string dockerfile_name = "Dockerfile";  ///< for messages
  std::string dockerfile_text;
  std::string dockerfile_path;  ///< for `<Dockerfile>.dockerignore`; empty for stdin
  std::string context_dir;
  std::vector<std::string> tags;  ///< normalized by the builder
  std::string target;
  bool no_cache = false;
  std::map<std::string, std::string> build_args;  ///< --build-arg K=V
  std::map<std::string, std::string> secrets;     ///< --secret id=ID,src=PATH
  std::string platform = "linux/amd64";
  NetworkMode network = NetworkMode::kDefault;  ///< network of RUN steps without RUN --network
};

struct BuildResult {
  image::Image image;
  std::vector<StepReport> steps;      ///< in step-number order
  std::vector<std::string> warnings;
};

/// Builds and tags the image. Errors carry the failing step's Dockerfile location; a RUN that
/// exits non-zero is kStepFailed with its exit code. Thread-safe with respect to other builds
/// on the same store (separate Store objects).
Result<BuildResult> Build(store::Store& store, sandbox::Sandbox& sandbox, progress::Progress& progress, const BuildRequest& req);

}  // namespace cb::executor
