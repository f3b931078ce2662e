// Private to executor/: executing one filesystem step (RUN, COPY/ADD, WORKDIR) on an active
// snapshot. The scheduler decides whether a step runs (executor/scheduler.h); this code only runs it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "executor/copy_op.h"
#include "progress/progress.h"
#include "sandbox/sandbox.h"
#include "store/store.h"
#include "executor/url_fetch.h"
#include "executor/user_db.h"
#include "planner/context_hasher.h"
#include "planner/plan.h"

namespace cb::executor {

struct StepContext {
  store::Store& store;
  sandbox::Sandbox& sandbox;
  progress::Progress& progress;
  std::string context_dir;
  int context_fd = -1;
  const std::map<std::string, std::string>* secrets = nullptr;
  /// .dockerignore for context sources (may be null).
  const planner::IgnoreMatcher* ignore = nullptr;
  /// Layers of a finished stage, by index (what COPY --from and RUN --mount from= read).
  std::function<const std::vector<Digest>&(int)> stage;
};

/// Runs the step on a new snapshot over `parents` and returns its layer (nullopt: no change).
/// ADD <url> sources come from `downloads` (fetched there now if the cache-key computation did
/// not already; --checksum verified). For a COPY from the context, `reuse` (may be null) names
/// the previous build's layer and the files unchanged since, which are hard-linked from it;
/// `linked` receives how many were.
Result<std::optional<cache::LayerRecord>> ExecuteStep(StepContext& ctx, const planner::Step& s,
                                                      const std::vector<Digest>& parents, Downloads& downloads,
                                                      const CopyReuse* reuse = nullptr, int64_t* linked = nullptr);

/// The identity of `user` ("user[:group]", names or ids) in the snapshot's filesystem, read
/// from its /etc/passwd and /etc/group (the snapshot is mounted briefly in cbuild's private
/// mount namespace); `chown` applies --chown's rules. An empty `user` is root.
Result<Identity> IdentityIn(snapshotter::ActiveSnapshot& snap, const std::string& user, bool chown);

/// The layers a --from / from= reference reads: a stage's, or an image's (pulled from the store).
Result<std::vector<Digest>> SourceLayers(StepContext& ctx, int from_stage, const std::string& from_ref);

}  // namespace cb::executor
