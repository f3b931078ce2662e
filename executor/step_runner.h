// The StepRunner of real builds: steps run on snapshots of the store (RUN in the sandbox,
// COPY/ADD and WORKDIR written through an overlay), committed as layers; a COPY from the
// context whose last build differed only in some files links the unchanged ones from that
// build's layer instead of copying them.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "progress/progress.h"
#include "sandbox/sandbox.h"
#include "executor/scheduler.h"
#include "store/store.h"
#include "executor/url_fetch.h"

namespace cb::executor {

/// What every step of one build reads besides its own instruction.
struct BuildInputs {
  std::string context_dir;
  int context_fd = -1;                                        ///< open for the build's duration
  const std::map<std::string, std::string>* secrets = nullptr;  ///< --secret id → file
  const planner::IgnoreMatcher* ignore = nullptr;             ///< .dockerignore (may be null; not owned)
  Downloads* downloads = nullptr;                             ///< ADD <url> contents fetched for the keys
};

/// Everything referenced must outlive the runner.
std::unique_ptr<StepRunner> NewStoreStepRunner(store::Store& store, sandbox::Sandbox& sandbox, progress::Progress& progress, BuildInputs in);

}  // namespace cb::executor
