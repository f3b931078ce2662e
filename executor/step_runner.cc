#include "executor/step_runner.h"

#include <sys/stat.h>

#include <string_view>

#include "executor/copy_op.h"
#include "executor/step_exec.h"

namespace cb::executor {
namespace {

using planner::Step;
using planner::StepKind;

class StoreStepRunner : public StepRunner {
 public:
  StoreStepRunner(store::Store& store, sandbox::Sandbox& sandbox, progress::Progress& progress, BuildInputs in)
      : store_(store), sandbox_(sandbox), progress_(progress), in_(std::move(in)) {}

  Result<image::Image> BaseImage(const planner::Stage& stage) override {
    auto img = CB_TRY(store_.images().Get(stage.base.digest));
    CB_TRY(store_.EnsureSnapshots(img));
    return img;
  }

  Result<std::optional<cache::LayerRecord>> CachedLayer(const Digest& diff_id) override {
    auto layer = CB_TRY(store_.meta().GetLayer(diff_id));
    if (!layer || !store_.snapshots().HasLayer(diff_id)) return std::optional<cache::LayerRecord>();
    return layer;
  }

  Result<std::optional<cache::LayerRecord>> Run(const StepTask& task) override {
    StepContext ctx{store_, sandbox_, progress_, in_.context_dir, in_.context_fd, in_.secrets, in_.ignore,
                    task.stage_layers};
    const Step& s = task.step;
    auto reuse = ReuseFor(task);
    int64_t linked = 0;
    auto layer = ExecuteStep(ctx, s, task.below, *in_.downloads, reuse.get(), &linked);
    if (!layer && reuse && layer.error().code != ErrorCode::kCancelled) {
      // Linking from the last build did not fit this tree: the plain copy decides.
      layer = ExecuteStep(ctx, s, task.below, *in_.downloads);
      linked = 0;
    }
    if (!layer) return std::move(layer).error();
    if (linked > 0)
      progress_.Output(s.number, fmt::format("{} unchanged file{} linked from the previous build, not copied", linked,
                                             linked == 1 ? "" : "s"));
    return layer;
  }

 private:
  /// A COPY from the context whose last build had the same instruction, layers below, ARG/ENV
  /// values and sources, with no file removed or changed in type since: that build's layer
  /// and the files whose mode and content are the same (linked from it, not copied).
  std::unique_ptr<CopyReuse> ReuseFor(const StepTask& task) const {
    const Step& s = task.step;
    const cache::StepRecord* prev = task.previous;
    if (!prev || !prev->files || !task.previous_layer || s.kind != StepKind::kCopy || s.copy.add ||
        !s.copy.from.empty() || s.copy.from_stage >= 0 || task.now.sources.empty())
      return nullptr;
    std::map<std::string_view, const ContextFile*> now;
    if (task.now.files)
      for (const auto& f : *task.now.files) now[f.path] = &f;
    auto reuse = std::make_unique<CopyReuse>();
    for (const auto& b : *prev->files) {
      auto it = now.find(b.path);
      if (it == now.end() || (it->second->mode & S_IFMT) != (b.mode & S_IFMT)) return nullptr;
      if (S_ISREG(b.mode) && it->second->mode == b.mode && it->second->content == b.content) reuse->same.insert(b.path);
    }
    if (reuse->same.empty()) return nullptr;
    reuse->prev_dir = store_.snapshots().LayerPath(task.previous_layer->diff_id);
    return reuse;
  }

  store::Store& store_;
  sandbox::Sandbox& sandbox_;
  progress::Progress& progress_;
  BuildInputs in_;
};

}  // namespace

std::unique_ptr<StepRunner> NewStoreStepRunner(store::Store& store, sandbox::Sandbox& sandbox, progress::Progress& progress, BuildInputs in) {
  return std::make_unique<StoreStepRunner>(store, sandbox, progress, std::move(in));
}

}  // namespace cb::executor
