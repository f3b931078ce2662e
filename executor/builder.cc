#include "executor/builder.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>

#include <nlohmann/json.hpp>
#include <tbb/flow_graph.h>
#include <tbb/global_control.h>
#include <tbb/task_arena.h>

#include "common/cancel.h"
#include "executor/copy_op.h"
#include "executor/step_exec.h"
#include "parser/parser.h"
#include "registry/registry.h"
#include "planner/context_hasher.h"
#include "planner/dockerignore.h"
#include "planner/plan.h"
#include "planner/plan_keys.h"

namespace cb::executor {

using store::Store;
using progress::Progress;
using sandbox::Sandbox;
namespace {

using planner::Step;
using planner::StepKind;

/// The image being assembled while a stage's steps run.
struct StageState {
  image::ImageConfig config;
  std::vector<image::Descriptor> layers;
  StageOutput out;
  int last_rebuilt = 0;  ///< number of this stage's latest step that was not cached (0: none)
};

Error AtStep(const Step& s, Error e) {
  if (!e.where) e.where = s.loc;
  return e;
}

class BuildRun {
 public:
  /// `plan` has its keys (planner::ComputeKeys); `downloads` holds what that fetched.
  BuildRun(Store& store, Sandbox& sandbox, Progress& progress, const BuildRequest& req, planner::Plan plan,
           planner::ContextHasher& ctx, Downloads& downloads)
      : store_(store), progress_(progress), req_(req), plan_(std::move(plan)), downloads_(downloads),
        sctx_{store, sandbox, progress, req.context_dir, ctx.root_fd(), &req.secrets,
              {}, [this](int i) -> const StageOutput& { return states_[i].out; }} {
    sctx_.ignored = [this](const std::string& rel) { return ignore_ && ignore_->Excluded(rel); };
    states_.resize(plan_.stages.size());
  }

  /// Runs every needed stage, independent ones at the same time.
  Status RunAll() {
    std::vector<int> needed;
    for (const auto& st : plan_.stages)
      if (st.needed) needed.push_back(st.index);
    // Stages mostly wait on sandboxed processes: let every independent stage have a thread,
    // whatever the core count (TBB otherwise caps workers at the number of cores).
    int threads = std::max<int>(2, static_cast<int>(needed.size()) + 1);
    tbb::global_control allow(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(threads));
    tbb::task_arena arena(threads);
    arena.execute([&] {
      tbb::flow::graph g;
      using Node = tbb::flow::continue_node<tbb::flow::continue_msg>;
      std::vector<std::unique_ptr<Node>> nodes(plan_.stages.size());
      for (int i : needed)
        nodes[i] = std::make_unique<Node>(g, [this, i](const tbb::flow::continue_msg&) { RunStageGuarded(i); });
      for (int i : needed)
        for (int d : plan_.stages[i].deps) tbb::flow::make_edge(*nodes[d], *nodes[i]);
      for (int i : needed)
        if (plan_.stages[i].deps.empty()) nodes[i]->try_put(tbb::flow::continue_msg());
      g.wait_for_all();
    });
    if (failed_) return first_error_;
    return Ok();
  }

  const StageState& Target() const { return states_[plan_.target]; }

  std::vector<StepReport> Reports() {
    std::sort(reports_.begin(), reports_.end(), [](const StepReport& a, const StepReport& b) { return a.n < b.n; });
    return reports_;
  }

 private:
  void RunStageGuarded(int i) {
    if (failed_) return;
    if (auto c = cancel::Check(); !c) {
      if (!failed_.exchange(true)) first_error_ = std::move(c).error();
      return;
    }
    auto st = RunStage(plan_.stages[i]);
    if (!st) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!failed_.exchange(true)) first_error_ = std::move(st).error();
    }
  }

  std::string Label(const planner::Stage& stage, const Step& s) const {
    std::string name = stage.name;
    bool several = std::count_if(plan_.stages.begin(), plan_.stages.end(), [](const auto& x) { return x.needed; }) > 1;
    if (name.empty() && several) name = fmt::format("stage-{}", stage.index);
    std::string pos = fmt::format("{}/{}", s.index_in_stage, stage.steps.size());
    return name.empty() ? pos : name + " " + pos;
  }

  void Report(StepReport r) {
    std::lock_guard<std::mutex> lock(mu_);
    reports_.push_back(std::move(r));
  }

  /// Every started step ends in Cached, Done or Failed.
  Error StepFailed(const Step& s, Error e) {
    if (e.code == ErrorCode::kCancelled) {
      progress_.Canceled(s.number, e.message);
    } else {
      progress_.Failed(s.number, e.message);
    }
    return AtStep(s, std::move(e));
  }

  Status RunStage(const planner::Stage& stage) {
    StageState& st = states_[stage.index];
    const Step& from = stage.steps[0];
    progress_.Started(from.number, Label(stage, from), from.text);
    if (stage.base_stage >= 0) {
      st = states_[stage.base_stage];
    } else if (!stage.scratch) {
      auto img = store_.images().Get(stage.base.digest);
      if (!img) return StepFailed(from, std::move(img).error());
      auto snaps = store_.EnsureSnapshots(*img);
      if (!snaps) return StepFailed(from, std::move(snaps).error());
      st.config = img->config;
      st.layers = img->manifest.layers;
    }
    if (st.config.platform.architecture.empty()) st.config.platform = image::Platform{};
    st.out.diff_ids = st.config.diff_ids;
    st.last_rebuilt = 0;
    progress_.Cached(from.number);
    Report({from.number, from.text, true, from.key, {}, 0});
    for (size_t i = 1; i < stage.steps.size(); ++i) {
      if (failed_) return MakeError(ErrorCode::kCancelled, "cancelled");
      CB_TRY(cancel::Check());  // SIGINT/SIGTERM: no new step starts
      const Step& s = stage.steps[i];
      progress_.Started(s.number, Label(stage, s), s.text);
      auto r = RunStep(s, stage.index, st);
      if (!r) return StepFailed(s, std::move(r).error());
    }
    st.config.config = stage.steps.back().config;
    st.config.author = stage.steps.back().author;
    return Ok();
  }

  /// Where the last build of this step (same context, Dockerfile, stage and position) is kept.
  Digest ExplainId(const Step& s, int stage) const {
    return planner::StepHistoryId(req_.context_dir, req_.dockerfile_name, stage, s.index_in_stage);
  }

  /// The last build of this step, as RememberStep kept it.
  struct PrevStep {
    nlohmann::json j;
    std::optional<std::vector<planner::ContextFile>> files;  ///< its listing, when it had one
  };
  std::optional<PrevStep> LoadPrev(const Step& s, int stage) {
    auto rec = store_.meta().GetCacheRecord(ExplainId(s, stage));
    if (!rec || !*rec) return std::nullopt;
    PrevStep p{nlohmann::json::parse(**rec, nullptr, false), std::nullopt};
    if (p.j.is_discarded() || !p.j.is_object()) return std::nullopt;
    if (auto blob = Digest::Parse(p.j.value("files", "")); blob) {
      if (auto text = store_.blobs().Get(*blob); text) {
        if (auto before = planner::ParseFiles(*text); before) p.files = std::move(*before);
      }
    }
    return p;
  }

  /// A COPY from the context whose last build had the same instruction, layers below, ARG/ENV
  /// values and sources, with no file removed or changed in type since: that build's layer
  /// and the files whose mode and content are the same (linked from it, not copied).
  std::unique_ptr<CopyReuse> ReuseFor(const Step& s, const Digest& parent, const std::optional<PrevStep>& prev,
                                      const std::vector<planner::ContextFile>& files,
                                      const std::vector<std::string>& sources) {
    if (req_.no_cache || !prev || !prev->files || s.kind != StepKind::kCopy || s.copy.add || !s.copy.from.empty() ||
        s.copy.from_stage >= 0 || sources.empty())
      return nullptr;
    const nlohmann::json& j = prev->j;
    if (j.value("text", "") != s.text || j.value("parent", "") != parent.ToString() ||
        j.value("env", std::vector<std::string>{}) != s.env || j.value("sources", std::vector<std::string>{}) != sources)
      return nullptr;
    auto key = Digest::Parse(j.value("key", ""));
    if (!key) return nullptr;
    auto hit = Lookup(*key);
    if (!hit || !*hit || !**hit) return nullptr;
    std::map<std::string_view, const planner::ContextFile*> now;
    for (const auto& f : files) now[f.path] = &f;
    auto reuse = std::make_unique<CopyReuse>();
    for (const auto& b : *prev->files) {
      auto it = now.find(b.path);
      if (it == now.end() || (it->second->mode & S_IFMT) != (b.mode & S_IFMT)) return nullptr;
      if (S_ISREG(b.mode) && it->second->mode == b.mode && it->second->content == b.content) reuse->same.insert(b.path);
    }
    if (reuse->same.empty()) return nullptr;
    reuse->prev_dir = store_.snapshots().LayerPath((**hit)->diff_id);
    return reuse;
  }

  /// Names the first input that differs from the last build of this step, or "" when unknown.
  std::string MissReason(const Step& s, int stage, const Digest& parent, const std::vector<planner::ContextFile>& files,
                         const std::optional<PrevStep>& prev) {
    if (req_.no_cache) return "--no-cache";
    if (!prev) return "";
    const nlohmann::json& j = prev->j;
    if (j.value("text", "") != s.text) return fmt::format("the instruction changed (was `{}`)", j.value("text", ""));
    if (j.value("parent", "") != parent.ToString()) {
      // A cached --link step in between is restacked, not rebuilt: name the step that was.
      int rebuilt = states_[stage].last_rebuilt;
      if (s.index_in_stage == 2 || rebuilt == 0) return "the base image changed";
      if (rebuilt == s.number - 1) return fmt::format("the previous step (#{}) was rebuilt", rebuilt);
      return fmt::format("step #{} before it was rebuilt", rebuilt);
    }
    auto env_before = j.value("env", std::vector<std::string>{});
    for (const auto& kv : s.env) {
      if (std::find(env_before.begin(), env_before.end(), kv) != env_before.end()) continue;
      std::string k = kv.substr(0, kv.find('='));
      std::string was = "unset";
      for (const auto& b : env_before)
        if (b.rfind(k + "=", 0) == 0) was = "`" + b.substr(k.size() + 1) + "`";
      return fmt::format("ARG/ENV {} changed: {} → `{}`", k, was, kv.substr(k.size() + 1));
    }
    if (prev->files) {
      std::string d = planner::FirstDifference(*prev->files, files);
      if (!d.empty()) return d;
    }
    return "the step's inputs changed";
  }

  Status RememberStep(const Step& s, int stage, const Digest& parent, const Digest& key,
                      const std::vector<planner::ContextFile>& files, const std::vector<std::string>& sources) {
    nlohmann::json j = {{"text", s.text}, {"parent", parent.ToString()}, {"key", key.ToString()}, {"env", s.env}};
    if (!sources.empty()) j["sources"] = sources;
    if (!files.empty()) j["files"] = CB_TRY(store_.blobs().Put(planner::SerializeFiles(files))).ToString();
    return store_.meta().PutCacheRecord(ExplainId(s, stage), j.dump());
  }

  Result<std::optional<std::optional<cache::LayerRecord>>> Lookup(const Digest& key) {
    using Out = std::optional<std::optional<cache::LayerRecord>>;
    if (req_.no_cache) return Out();
    auto rec = CB_TRY(store_.meta().GetCacheRecord(key));
    if (!rec) return Out();
    auto j = nlohmann::json::parse(*rec, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Out();
    if (!j.contains("diff_id")) return Out(std::optional<cache::LayerRecord>());
    auto diff_id = Digest::Parse(j.value("diff_id", ""));
    if (!diff_id) return Out();
    auto layer = CB_TRY(store_.meta().GetLayer(*diff_id));
    // The snapshot is what a build needs; a compressed blob is made lazily when exported.
    if (!layer || !store_.snapshots().HasLayer(*diff_id)) return Out();
    return Out(layer);
  }

  Status Record(const Digest& key, const std::optional<cache::LayerRecord>& layer) {
    nlohmann::json j = nlohmann::json::object();
    if (layer) j["diff_id"] = layer->diff_id.ToString();
    return store_.meta().PutCacheRecord(key, j.dump());
  }

  static void AddLayer(StageState& st, const std::optional<cache::LayerRecord>& layer, const std::string& created_by) {
    image::HistoryEntry h;
    h.created_by = created_by;
    if (layer) {
      st.config.diff_ids.push_back(layer->diff_id);
      st.layers.push_back({layer->media_type, layer->blob, layer->blob_size, {}, std::nullopt});
    } else {
      h.empty_layer = true;
    }
    st.config.history.push_back(h);
    st.out.diff_ids = st.config.diff_ids;
  }

  Status RunStep(const Step& s, int stage, StageState& st) {
    auto t0 = std::chrono::steady_clock::now();
    StepReport rep{s.number, s.text, false, {}, {}, 0};
    rep.cache_key = s.key;
    if (s.kind == StepKind::kConfig) {
      AddLayer(st, std::nullopt, s.created_by);
      rep.cached = !req_.no_cache && CB_TRY(store_.meta().GetCacheRecord(rep.cache_key)).has_value();
      if (!rep.cached) CB_TRY(store_.meta().PutCacheRecord(rep.cache_key, "{}"));
    } else {
      const auto& files = s.files;
      const auto& sources = s.context_sources;
      bool link = s.kind == StepKind::kCopy && s.copy.link;  // stacked onto the layers below, not written on them
      Digest parent = planner::KeyedParent(s.key_inputs);
      auto hit = CB_TRY(Lookup(rep.cache_key));
      if (hit) {
        AddLayer(st, *hit, s.created_by);
        rep.cached = true;
      } else {
        auto prev = LoadPrev(s, stage);
        rep.miss_reason = MissReason(s, stage, parent, files, prev);
        if (!rep.miss_reason.empty()) progress_.CacheMiss(s.number, rep.miss_reason);
        auto reuse = ReuseFor(s, parent, prev, files, sources);
        CB_TRY(RememberStep(s, stage, parent, rep.cache_key, files, sources));
        std::vector<Digest> below = link ? std::vector<Digest>{} : st.config.diff_ids;
        int64_t linked = 0;
        auto layer = ExecuteStep(sctx_, s, below, downloads_, reuse.get(), &linked);
        if (!layer && reuse && layer.error().code != ErrorCode::kCancelled) {
          // Linking from the last build did not fit this tree: the plain copy decides.
          layer = ExecuteStep(sctx_, s, below, downloads_);
          linked = 0;
        }
        if (!layer) return std::move(layer).error();
        if (linked > 0)
          progress_.Output(s.number, fmt::format("{} unchanged file{} linked from the previous build, not copied", linked,
                                                 linked == 1 ? "" : "s"));
        CB_TRY(Record(rep.cache_key, *layer));
        AddLayer(st, *layer, s.created_by);
      }
    }
    if (!rep.cached) st.last_rebuilt = s.number;
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rep.cached) {
      progress_.Cached(s.number);
    } else {
      progress_.Done(s.number, rep.seconds);
    }
    Report(rep);
    return Ok();
  }

  Store& store_;
  Progress& progress_;
  const BuildRequest& req_;
  planner::Plan plan_;
  Downloads& downloads_;
  StepContext sctx_;

 public:
  const planner::IgnoreMatcher* ignore_ = nullptr;

 private:
  std::vector<StageState> states_;
  std::vector<StepReport> reports_;
  std::mutex mu_;
  std::atomic<bool> failed_{false};
  Error first_error_;
};

/// FROM image → what the planner needs to know about it.
planner::BaseResolver Resolver(Store& store, Progress& progress) {
  return [&store, &progress](const std::string& ref) -> Result<planner::BaseImage> {
    auto transfers = progress.Transfers();
    auto img = registry::ResolveOrPull(ref, {store.blobs(), store.meta(), store.images()}, transfers.get());
    if (!img) return std::move(img).error();
    return planner::BaseImage{img->manifest_digest, img->config.config, img->config.author};
  };
}

}  // namespace

Result<BuildResult> Build(Store& store, Sandbox& sandbox, Progress& progress, const BuildRequest& req) {
  ast::Dockerfile df = CB_TRY(parser::Parse(req.dockerfile_text, req.dockerfile_name));
  CB_TRY(parser::Validate(df));
  planner::LowerOptions lo;
  lo.target = req.target;
  lo.build_args = req.build_args;
  lo.resolve = Resolver(store, progress);
  lo.platform = req.platform;
  lo.network = req.network;
  planner::Plan plan = CB_TRY(planner::Lower(df, lo));
  std::vector<image::Reference> tags;
  for (const auto& t : req.tags) tags.push_back(CB_TRY(image::ParseReference(t)));
  auto ignore = CB_TRY(planner::IgnoreMatcher::Load(req.context_dir, req.dockerfile_path));
  auto ctx = CB_TRY(planner::ContextHasher::Open(req.context_dir, &ignore, store.root() + "/context-cache"));
  Downloads downloads(store.root());
  // Every key before any step runs: the context is hashed (and URLs fetched) here, at once.
  Status keyed = planner::ComputeKeys(plan, ctx, UrlKeyResolver(downloads));
  if (!keyed) {
    (void)ctx.SaveStatCache();
    return std::move(keyed).error();
  }
  BuildResult result;
  result.warnings = plan.warnings;
  BuildRun run(store, sandbox, progress, req, std::move(plan), ctx, downloads);
  run.ignore_ = &ignore;
  auto ran = run.RunAll();
  (void)ctx.SaveStatCache();
  CB_TRY(std::move(ran));
  const StageState& st = run.Target();
  image::Manifest m;
  m.layers = st.layers;
  result.image = CB_TRY(store.images().Put(m, st.config));
  for (const auto& t : tags) CB_TRY(store.images().Tag(t, result.image.manifest_digest));
  result.steps = run.Reports();
  return result;
}

}  // namespace cb::executor
