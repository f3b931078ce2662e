#include "executor/builder.h"

#include <spdlog/spdlog.h>

#include "cache/build_history.h"
#include "cache/cache_index.h"
#include "executor/scheduler.h"
#include "executor/step_runner.h"
#include "executor/url_fetch.h"
#include "parser/parser.h"
#include "planner/context_hasher.h"
#include "planner/dockerignore.h"
#include "planner/plan.h"
#include "planner/plan_keys.h"
#include "registry/registry.h"

namespace cb::executor {
namespace {

/// FROM image → what the planner needs to know about it.
planner::BaseResolver Resolver(store::Store& store, progress::Progress& progress) {
  return [&store, &progress](const std::string& ref) -> Result<planner::BaseImage> {
    auto transfers = progress.Transfers();
    auto img = registry::ResolveOrPull(ref, {store.blobs(), store.meta(), store.images()}, transfers.get());
    if (!img) return std::move(img).error();
    return planner::BaseImage{img->manifest_digest, img->config.config, img->config.author};
  };
}

Result<planner::Plan> PlanOf(store::Store& store, progress::Progress& progress, const BuildRequest& req) {
  ast::Dockerfile df = CB_TRY(parser::Parse(req.dockerfile_text, req.dockerfile_name));
  CB_TRY(parser::Validate(df));
  planner::LowerOptions lo;
  lo.target = req.target;
  lo.build_args = req.build_args;
  lo.resolve = Resolver(store, progress);
  lo.platform = req.platform;
  lo.network = req.network;
  return planner::Lower(df, lo);
}

}  // namespace

Result<BuildResult> Build(store::Store& store, sandbox::Sandbox& sandbox, progress::Progress& progress,
                          const BuildRequest& req) {
  spdlog::debug("build: Dockerfile `{}`, context `{}`", req.dockerfile_name, req.context_dir);
  planner::Plan plan = CB_TRY(PlanOf(store, progress, req));
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
  for (const auto& stage : plan.stages) {
    if (!stage.needed) continue;
    for (const auto& s : stage.steps) spdlog::debug("plan: #{} {}: key {}", s.number, s.text, s.key.ToString());
  }

  auto index = cache::NewMetadataCacheIndex(store.meta());
  auto history = cache::NewStoreBuildHistory(store.meta(), store.blobs());
  BuildInputs in{req.context_dir, ctx.root_fd(), &req.secrets,
                 &ignore, &downloads};
  auto runner = NewStoreStepRunner(store, sandbox, progress, std::move(in));
  Scheduler scheduler(plan, *index, *history, *runner, progress, {req.no_cache, req.context_dir, req.dockerfile_name});
  Status ran = scheduler.Run();
  (void)ctx.SaveStatCache();
  CB_TRY(std::move(ran));

  BuildResult result;
  result.warnings = plan.warnings;
  const StageImage& target = scheduler.Stage(plan.target);
  image::Manifest m;
  m.layers = target.layers;
  result.image = CB_TRY(store.images().Put(m, target.config));
  for (const auto& t : tags) CB_TRY(store.images().Tag(t, result.image.manifest_digest));
  result.steps = scheduler.Reports();
  spdlog::debug("build: image {}", result.image.manifest_digest.ToString());
  return result;
}

}  // namespace cb::executor
