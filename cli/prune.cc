// `cbuild prune` and `cbuild system df`: space used by the store and its garbage collection.
// The rules live in cache/gc.h; here the facts are gathered and the plan carried out, under the
// root's exclusive gc lock, keeping everything a running cbuild process has leased
// (cache/lease.h): prune runs while builds run, and never removes what they use.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "cache/gc.h"
#include "cli/common.h"
#include "cli/verbs.h"

namespace cb::cli {
namespace {

/// Everything gc needs to know about the store.
Result<cache::GcInput> Gather(store::Store& s, int64_t* image_count) {
  cache::GcInput in;
  in.records = CB_TRY(s.meta().ListCacheRecords());
  for (const auto& d : CB_TRY(s.blobs().List()))
    if (auto size = s.blobs().Size(d)) in.blobs[d] = *size;  // a corrupt entry is removed by Size
  for (const auto& rec : CB_TRY(s.meta().ListLayers())) {
    auto& f = in.layers[rec.diff_id];
    f.blob = rec.blob;
    f.has_record = true;
  }
  for (const auto& id : CB_TRY(s.snapshots().ListLayers())) {
    auto& f = in.layers[id];
    f.has_snapshot = true;
    auto usage = snapshotter::Snapshotter::DiskUsage(s.snapshots().LayerPath(id));
    f.snapshot_bytes = usage.own;
    f.shared = std::move(usage.shared);
  }
  std::set<Digest> manifests;
  for (const auto& [name, manifest] : CB_TRY(s.meta().ListTags())) manifests.insert(manifest);
  *image_count = static_cast<int64_t>(manifests.size());
  for (const auto& m : manifests) {
    auto img = s.images().Get(m);
    if (!img) return MakeError(img.error().code, "read tagged image {}: {}", m.ToString(), img.error().message);
    in.image_blobs.insert(m);
    in.image_blobs.insert(img->config_digest);
    for (const auto& l : img->manifest.layers) in.image_blobs.insert(l.digest);
    for (const auto& id : img->config.diff_ids) in.image_layers.insert(id);
  }
  return in;
}

/// Waits for the exclusive gc lock: other processes hold it shared for the moment they read a
/// reference (microseconds), another prune or check exclusively for its whole run — only that
/// wait is worth a word.
Status LockRoot(store::Store& s) {
  for (int i = 0; i < 200; ++i) {
    auto r = s.leases().LockExclusive(false);
    if (r || r.error().code != ErrorCode::kExists) return r;
    ::usleep(10'000);
  }
  fmt::print(stderr, "waiting for another cbuild prune or system check on `{}`...\n", s.root());
  return s.leases().LockExclusive(true);
}

Status Execute(store::Store& s, const cache::GcPlan& plan) {
  for (const auto& k : plan.records) CB_TRY(s.meta().DeleteCacheRecord(k));
  for (const auto& id : plan.layers) {
    CB_TRY(s.meta().DeleteLayer(id));
    CB_TRY(s.snapshots().RemoveLayer(id));
  }
  for (const auto& b : plan.blobs) CB_TRY(s.blobs().Remove(b));
  return Ok();
}

int Prune(const GlobalOptions& g, bool all, const std::string& keep_storage) {
  cache::GcOptions opts;
  opts.all = all;
  if (!keep_storage.empty()) {
    auto n = cache::ParseSize(keep_storage);
    if (!n) return Fail(fmt::format("--keep-storage: {}", n.error().message));
    opts.keep_bytes = *n;
  }
  auto s = OpenStore(g);
  if (!s) return 1;
  if (auto r = LockRoot(*s); !r) return Fail(r.error());
  // Leases first, then the references: a process alive now can only reference what it has
  // leased already (it cannot add to its lease while this lock is held), so a tag or record it
  // writes while the facts are gathered names something kept either way, even if it exits.
  auto leased = s->leases().Live();
  if (!leased) return Fail(leased.error());
  int64_t images = 0;
  auto in = Gather(*s, &images);
  if (!in) return Fail(in.error());
  in->leased = std::move(*leased);
  cache::GcPlan plan = cache::PlanGc(*in, opts);
  if (auto r = Execute(*s, plan); !r) return Fail(r.error());
  fmt::print("Deleted {} cache records, {} layers, {} blobs\n", plan.records.size(), plan.layers.size(),
             plan.blobs.size());
  fmt::print("Total reclaimed space: {}\n", cache::FormatSize(plan.freed_bytes));
  return 0;
}

std::string Percent(int64_t part, int64_t whole) {
  return whole <= 0 ? "0%" : fmt::format("{}%", part * 100 / whole);
}

int SystemDf(const GlobalOptions& g, const std::string& format) {
  auto s = OpenStore(g);
  if (!s) return 1;
  int64_t images = 0;
  auto in = Gather(*s, &images);
  if (!in) return Fail(in.error());
  cache::Usage u = cache::ComputeUsage(*in, images);
  const std::pair<const char*, const cache::UsageRow*> rows[] = {
      {"Images", &u.images}, {"Layers", &u.layers}, {"Build Cache", &u.build_cache}};
  if (format == "json") {
    for (const auto& [name, r] : rows)
      fmt::print("{{\"Type\":\"{}\",\"TotalCount\":{},\"Active\":{},\"Size\":{},\"Reclaimable\":{}}}\n", name,
                 r->total, r->active, r->bytes, r->reclaimable);
    return 0;
  }
  fmt::print("{:<14}{:<9}{:<9}{:<11}{}\n", "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE");
  for (const auto& [name, r] : rows)
    fmt::print("{:<14}{:<9}{:<9}{:<11}{} ({})\n", name, r->total, r->active, cache::FormatSize(r->bytes),
               cache::FormatSize(r->reclaimable), Percent(r->reclaimable, r->bytes));
  return 0;
}

}  // namespace

void AddSpaceVerbs(CLI::App& app, const GlobalOptions& g, int& rc) {
  static bool all = false;
  static std::string keep, df_format = "table";
  auto* prune = app.add_subcommand("prune", "Remove build cache and data no tagged image uses");
  prune->add_flag("-a,--all", all, "Remove all build cache, not only dangling records");
  prune->add_option("--keep-storage", keep,
                    "Remove least recently used cache until the store is at most SIZE (e.g. 10GB)");
  prune->footer(
      "Kept: everything a tagged image references. Removed: dangling cache records, untagged\n"
      "images' data, layers and blobs nothing references; with --all every cache record; with\n"
      "--keep-storage the least recently used records until the store fits. Runs while builds\n"
      "run on the same --root and never removes what they use (each cbuild process leases it).");
  prune->callback([&] { rc = Prune(g, all, keep); });
  auto* system = app.add_subcommand("system", "Manage the store");
  system->require_subcommand(1);
  auto* df = system->add_subcommand("df", "Show disk usage: images, layers, build cache");
  df->add_option("--format", df_format, "table|json")->check(CLI::IsMember({"table", "json"}));
  df->callback([&] { rc = SystemDf(g, df_format); });
  AddCheckVerb(*system, g, rc);
}

}  // namespace cb::cli
