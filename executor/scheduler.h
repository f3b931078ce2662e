// Scheduler: walks a keyed plan. Stages run in dependency order, independent stages at the
// same time (each on a thread of its own), the steps of a stage in order. Each step is looked
// up in the CacheIndex by its key (computed with the plan); a miss is explained from the
// BuildHistory and handed to a StepRunner, whose result is recorded. Progress is reported as
// steps start and end. The first failure stops the schedule: running steps of other stages
// see the StopToken, no new step or stage starts, and the error returned is that first one.
// SIGINT/SIGTERM (common/cancel.h) stop it the same way.
//
// Like ninja's Plan and CommandRunner: the scheduler is bookkeeping only; everything that
// touches a filesystem, a sandbox or a registry is behind StepRunner, so tests drive it with a
// fake runner (tests/executor/scheduler_test.cc).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cache/build_history.h"
#include "cache/cache_index.h"
#include "cache/metadata_store.h"
#include "common/digest.h"
#include "common/result.h"
#include "progress/progress.h"
#include "image/image_store.h"
#include "image/oci.h"
#include "planner/plan.h"

namespace cb::executor {

/// What one step did, for --metadata-file and the summary.
struct StepReport {
  int n = 0;
  std::string instruction;
  bool cached = false;
  Digest cache_key;
  std::string miss_reason;
  double seconds = 0;
};

/// The image a stage assembles as its steps run.
struct StageImage {
  image::ImageConfig config;                ///< config.diff_ids: the stage's layers so far
  std::vector<image::Descriptor> layers;    ///< the manifest's layer descriptors, in order
};

/// Set on the first failure of a schedule; signals to cbuild (common/cancel.h) count too.
/// Thread-safe.
class StopToken {
 public:
  void Stop() { stopped_.store(true, std::memory_order_release); }
  /// True once the schedule stops (a failure elsewhere, or a signal).
  bool stopped() const;
  /// kCancelled when stopped: "cancelled" after a failure elsewhere, "interrupted by SIGINT"
  /// (…) after a signal; else Ok.
  Status Check() const;

 private:
  std::atomic<bool> stopped_{false};
};

/// A step whose key missed the cache, as handed to the runner.
struct StepTask {
  const planner::Stage& stage;
  const planner::Step& step;
  /// The layers the step runs on (the stage's so far; none for COPY --link).
  std::vector<Digest> below;
  /// The last build of this step, when it differed only in the content of its files (same
  /// instruction, state below, ARG/ENV and sources): its listing and the layer it made, which
  /// a COPY may link unchanged files from. Null otherwise, and always with --no-cache.
  const cache::StepRecord* previous = nullptr;
  std::optional<cache::LayerRecord> previous_layer;
  /// This build's inputs of the step (what `previous` is compared with).
  const cache::StepRecord& now;
  /// The layers of a finished stage the step reads (COPY --from, RUN --mount from=).
  std::function<const std::vector<Digest>&(int stage)> stage_layers;
  /// Long work polls it; a step that sees it stopped returns its kCancelled error.
  const StopToken& stop;
};

/// Runs steps for the scheduler. Called from several threads at once (one per running stage).
class StepRunner {
 public:
  virtual ~StepRunner() = default;
  /// FROM <image>: the image, its layers made ready to run steps on (unpacked as needed).
  virtual Result<image::Image> BaseImage(const planner::Stage& stage) = 0;
  /// A cache hit's layer, when it can still be used (its snapshot is there); nullopt: the
  /// step runs again.
  virtual Result<std::optional<cache::LayerRecord>> CachedLayer(const Digest& diff_id) = 0;
  /// Runs a step that missed the cache (RUN, COPY/ADD, WORKDIR; never a config step) and
  /// returns its layer (nullopt: nothing changed). Output goes to Progress::Output.
  virtual Result<std::optional<cache::LayerRecord>> Run(const StepTask& task) = 0;
};

struct ScheduleOptions {
  bool no_cache = false;         ///< every step runs; the index is written, not read
  std::string context_dir;       ///< with dockerfile_name: where a step's history is kept
  std::string dockerfile_name;
};

class Scheduler {
 public:
  /// `plan` carries its keys (planner::ComputeKeys). Everything referenced must outlive this.
  Scheduler(const planner::Plan& plan, cache::CacheIndex& index, cache::BuildHistory& history, StepRunner& runner,
            progress::Progress& progress, ScheduleOptions opts);
  ~Scheduler();

  /// Runs every needed stage; the first error (with the failing step's Dockerfile location).
  /// Call once.
  Status Run();

  /// The image a stage assembled (after Run succeeded: complete for every needed stage).
  const StageImage& Stage(int index) const;
  /// Every step that started, in step-number order.
  std::vector<StepReport> Reports() const;

 private:
  struct StageRun;
  void Fail(Error e);  ///< keeps the first error and stops the schedule
  void RunStageGuarded(int i);
  Status RunStage(const planner::Stage& stage);
  Status RunFrom(const planner::Stage& stage, StageRun& st);
  Status RunStep(const planner::Stage& stage, const planner::Step& s, StageRun& st);
  Result<std::optional<cache::LayerRecord>> RunMiss(const planner::Stage& stage, const planner::Step& s,
                                                    StageRun& st, std::string* reason);
  Result<std::optional<std::optional<cache::LayerRecord>>> Lookup(const Digest& key);
  std::string Label(const planner::Stage& stage, const planner::Step& s) const;
  Error StepFailed(const planner::Step& s, Error e);
  void Report(StepReport r);

  const planner::Plan& plan_;
  cache::CacheIndex& index_;
  cache::BuildHistory& history_;
  StepRunner& runner_;
  progress::Progress& progress_;
  ScheduleOptions opts_;
  bool several_stages_ = false;
  std::vector<std::unique_ptr<StageRun>> stages_;
  StopToken stop_;
  mutable std::mutex mu_;  ///< reports_, first_error_
  std::vector<StepReport> reports_;
  std::optional<Error> first_error_;
};

}  // namespace cb::executor
