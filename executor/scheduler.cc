#include "executor/scheduler.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <system_error>
#include <thread>

#include "common/cancel.h"
#include "planner/cache_key.h"

namespace cb::executor {

using planner::Step;
using planner::StepKind;

bool StopToken::stopped() const { return stopped_.load(std::memory_order_acquire) || cancel::Requested(); }

Status StopToken::Check() const {
  if (stopped_.load(std::memory_order_acquire)) return MakeError(ErrorCode::kCancelled, "cancelled");
  return cancel::Check();
}

/// A stage while it runs: the image it assembles and what its miss explanations need.
struct Scheduler::StageRun {
  StageImage image;
  int last_rebuilt = 0;  ///< number of this stage's latest step that was not cached (0: none)
};

namespace {

Error AtStep(const Step& s, Error e) {
  if (!e.where) e.where = s.loc;
  return e;
}

void AddLayer(StageImage& st, const std::optional<cache::LayerRecord>& layer, const std::string& created_by) {
  image::HistoryEntry h;
  h.created_by = created_by;
  if (layer) {
    st.config.diff_ids.push_back(layer->diff_id);
    st.layers.push_back({layer->media_type, layer->blob, layer->blob_size, {}, std::nullopt});
  } else {
    h.empty_layer = true;
  }
  st.config.history.push_back(h);
}

}  // namespace

Scheduler::Scheduler(const planner::Plan& plan, cache::CacheIndex& index, cache::BuildHistory& history,
                     StepRunner& runner, progress::Progress& progress, ScheduleOptions opts)
    : plan_(plan), index_(index), history_(history), runner_(runner), progress_(progress), opts_(std::move(opts)) {
  several_stages_ = std::count_if(plan_.stages.begin(), plan_.stages.end(), [](const auto& x) { return x.needed; }) > 1;
  for (size_t i = 0; i < plan_.stages.size(); ++i) stages_.push_back(std::make_unique<StageRun>());
}

Scheduler::~Scheduler() = default;

Status Scheduler::Run() {
  // Stages mostly wait on sandboxed processes: each ready stage gets a thread of its own,
  // whatever the core count. They are plain threads, not tasks of a pool: a step that waits on
  // a pool (hashing, compression) can never be handed another stage to run inside that wait.
  std::mutex m;
  std::condition_variable cv;
  std::vector<int> pending(plan_.stages.size(), 0), ready;
  std::vector<std::vector<int>> dependents(plan_.stages.size());
  for (const auto& st : plan_.stages) {
    if (!st.needed) continue;
    for (int d : st.deps) dependents[d].push_back(st.index);
    pending[st.index] = static_cast<int>(st.deps.size());
    if (st.deps.empty()) ready.push_back(st.index);
  }
  int running = 0;
  auto finished = [&](int i) {
    std::lock_guard<std::mutex> lock(m);
    --running;
    for (int d : dependents[i])
      if (--pending[d] == 0) ready.push_back(d);
    cv.notify_all();
  };
  std::vector<std::thread> threads;
  std::unique_lock<std::mutex> lock(m);
  for (;;) {
    if (!ready.empty() && stop_.stopped()) {
      Fail(stop_.Check().error());  // a signal before anything failed is the build's error
      ready.clear();
    }
    while (!ready.empty()) {
      int i = ready.front();
      ready.erase(ready.begin());
      ++running;
      try {
        threads.emplace_back([this, i, &finished] {
          RunStageGuarded(i);
          finished(i);
        });
      } catch (const std::system_error&) {  // no thread to be had (e.g. a pids limit): run it here
        lock.unlock();
        RunStageGuarded(i);
        finished(i);
        lock.lock();
      }
    }
    if (running == 0) break;
    cv.wait(lock);
  }
  lock.unlock();
  for (auto& t : threads) t.join();
  std::lock_guard<std::mutex> guard(mu_);
  if (first_error_) return *first_error_;
  return Ok();
}

void Scheduler::Fail(Error e) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!first_error_) first_error_ = std::move(e);
  stop_.Stop();
}

void Scheduler::RunStageGuarded(int i) {
  if (auto st = RunStage(plan_.stages[i]); !st) Fail(std::move(st).error());
}

const StageImage& Scheduler::Stage(int index) const { return stages_[index]->image; }

std::vector<StepReport> Scheduler::Reports() const {
  std::lock_guard<std::mutex> lock(mu_);
  auto out = reports_;
  std::sort(out.begin(), out.end(), [](const StepReport& a, const StepReport& b) { return a.n < b.n; });
  return out;
}

std::string Scheduler::Label(const planner::Stage& stage, const Step& s) const {
  std::string name = stage.name;
  if (name.empty() && several_stages_) name = fmt::format("stage-{}", stage.index);
  std::string pos = fmt::format("{}/{}", s.index_in_stage, stage.steps.size());
  return name.empty() ? pos : name + " " + pos;
}

void Scheduler::Report(StepReport r) {
  std::lock_guard<std::mutex> lock(mu_);
  reports_.push_back(std::move(r));
}

Error Scheduler::StepFailed(const Step& s, Error e) {
  // Every started step ends in Cached, Done, Failed or Canceled.
  if (e.code == ErrorCode::kCancelled) {
    progress_.Canceled(s.number, e.message);
  } else {
    progress_.Failed(s.number, e.message);
  }
  return AtStep(s, std::move(e));
}

Status Scheduler::RunStage(const planner::Stage& stage) {
  StageRun& st = *stages_[stage.index];
  const Step& from = stage.steps[0];
  progress_.Started(from.number, Label(stage, from), from.text);
  if (auto r = RunFrom(stage, st); !r) return StepFailed(from, std::move(r).error());
  progress_.Cached(from.number);
  Report({from.number, from.text, true, from.key, {}, 0});
  for (size_t i = 1; i < stage.steps.size(); ++i) {
    CB_TRY(stop_.Check());  // a failure elsewhere, SIGINT/SIGTERM: no new step starts
    const Step& s = stage.steps[i];
    progress_.Started(s.number, Label(stage, s), s.text);
    if (auto r = RunStep(stage, s, st); !r) return StepFailed(s, std::move(r).error());
  }
  st.image.config.config = stage.steps.back().config;
  st.image.config.author = stage.steps.back().author;
  return Ok();
}

Status Scheduler::RunFrom(const planner::Stage& stage, StageRun& st) {
  if (stage.base_stage >= 0) {
    st.image = stages_[stage.base_stage]->image;
  } else if (!stage.scratch) {
    image::Image img = CB_TRY(runner_.BaseImage(stage));
    st.image.config = std::move(img.config);
    st.image.layers = std::move(img.manifest.layers);
  }
  if (st.image.config.platform.architecture.empty()) st.image.config.platform = image::Platform{};
  st.last_rebuilt = 0;
  return Ok();
}

Result<std::optional<std::optional<cache::LayerRecord>>> Scheduler::Lookup(const Digest& key) {
  using Out = std::optional<std::optional<cache::LayerRecord>>;
  if (opts_.no_cache) return Out();
  auto rec = CB_TRY(index_.Lookup(key));
  if (!rec) return Out();
  if (!rec->diff_id) return Out(std::optional<cache::LayerRecord>());
  // The snapshot is what a build needs; a compressed blob is made lazily when exported.
  auto layer = CB_TRY(runner_.CachedLayer(*rec->diff_id));
  if (!layer) return Out();
  return Out(std::move(layer));
}

Status Scheduler::RunStep(const planner::Stage& stage, const Step& s, StageRun& st) {
  auto t0 = std::chrono::steady_clock::now();
  StepReport rep{s.number, s.text, false, s.key, {}, 0};
  if (s.kind == StepKind::kConfig) {
    AddLayer(st.image, std::nullopt, s.created_by);
    rep.cached = !opts_.no_cache && CB_TRY(index_.Lookup(s.key)).has_value();
    if (!rep.cached) CB_TRY(index_.Record(s.key, cache::CacheRecord{}));
  } else if (auto hit = CB_TRY(Lookup(s.key))) {
    AddLayer(st.image, *hit, s.created_by);
    rep.cached = true;
  } else {
    auto layer = CB_TRY(RunMiss(stage, s, st, &rep.miss_reason));
    CB_TRY(index_.Record(s.key, cache::CacheRecord{layer ? std::optional<Digest>(layer->diff_id) : std::nullopt}));
    AddLayer(st.image, layer, s.created_by);
  }
  if (!rep.cached) st.last_rebuilt = s.number;
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (rep.cached) {
    progress_.Cached(s.number);
  } else {
    progress_.Done(s.number, rep.seconds);
  }
  Report(std::move(rep));
  return Ok();
}

Result<std::optional<cache::LayerRecord>> Scheduler::RunMiss(const planner::Stage& stage, const Step& s,
                                                             StageRun& st, std::string* reason) {
  // (ADD keeps no sources: they may be URLs with credentials, and only COPY reuses files.)
  cache::StepRecord now{s.text, planner::KeyedParent(s.key_inputs), s.key, s.env,
                        s.copy.add ? std::vector<std::string>{} : s.context_sources, std::nullopt};
  if (!s.files.empty()) now.files = s.files;
  Digest slot = planner::StepHistoryId(opts_.context_dir, opts_.dockerfile_name, stage.index, s.index_in_stage);
  std::optional<cache::StepRecord> prev;
  if (!opts_.no_cache) {
    // The history only explains and helps: one that cannot be read is one that is not there.
    if (auto loaded = history_.Load(slot)) prev = std::move(*loaded);
  }
  *reason = cache::ExplainMiss(prev, now, {opts_.no_cache, s.number, s.index_in_stage, st.last_rebuilt});
  if (!reason->empty()) progress_.CacheMiss(s.number, *reason);

  bool link = s.kind == StepKind::kCopy && s.copy.link;  // stacked onto the layers below, not written on them
  StepTask task{stage,
                s,
                link ? std::vector<Digest>{} : st.image.config.diff_ids,
                nullptr,
                std::nullopt,
                now,
                [this](int i) -> const std::vector<Digest>& { return stages_[i]->image.config.diff_ids; },
                stop_};
  if (prev && prev->files && cache::SameButFiles(*prev, now)) {
    if (auto hit = Lookup(prev->key); hit && *hit && **hit) {
      task.previous = &*prev;
      task.previous_layer = **hit;
    }
  }
  CB_TRY(history_.Save(slot, now));
  return runner_.Run(task);
}

}  // namespace cb::executor
