#include "cache/build_history.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "cache/blob_store.h"
#include "cache/metadata_store.h"
#include "common/env_list.h"

namespace cb::cache {

namespace {

/// The parent differs: the state below was rebuilt. A cached --link step in between is
/// restacked, not rebuilt: name the step that was.
std::string ParentChanged(const MissContext& ctx) {
  if (ctx.index_in_stage == 2 || ctx.last_rebuilt == 0) return "the base image changed";
  if (ctx.last_rebuilt == ctx.number - 1) return fmt::format("the previous step (#{}) was rebuilt", ctx.last_rebuilt);
  return fmt::format("step #{} before it was rebuilt", ctx.last_rebuilt);
}

/// The first "K=V" of `now` that `before` does not hold, worded; "" when none.
std::string EnvChanged(const std::vector<std::string>& before, const std::vector<std::string>& now) {
  for (const auto& kv : now) {
    if (std::find(before.begin(), before.end(), kv) != before.end()) continue;
    std::string k(env::NameOf(kv));
    auto old = env::Get(before, k);
    std::string was = old ? "`" + *old + "`" : "unset";
    return fmt::format("ARG/ENV {} changed: {} → `{}`", k, was, kv.substr(std::min(kv.size(), k.size() + 1)));
  }
  return {};
}

}  // namespace

std::string ExplainMiss(const std::optional<StepRecord>& prev, const StepRecord& now, const MissContext& ctx) {
  if (ctx.no_cache) return "--no-cache";
  if (!prev) return "";
  if (prev->text != now.text) return fmt::format("the instruction changed (was `{}`)", prev->text);
  if (prev->parent != now.parent) return ParentChanged(ctx);
  if (auto env = EnvChanged(prev->env, now.env); !env.empty()) return env;
  if (prev->files) {
    std::string d = FirstDifference(*prev->files, now.files ? *now.files : std::vector<ContextFile>{});
    if (!d.empty()) return d;
  }
  return "the step's inputs changed";
}

bool SameButFiles(const StepRecord& prev, const StepRecord& now) {
  return prev.text == now.text && prev.parent == now.parent && prev.env == now.env && prev.sources == now.sources;
}

namespace {

/// A string array member, or nullopt when it is there but not one. Absent: empty.
std::optional<std::vector<std::string>> Strings(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) return std::vector<std::string>{};
  if (!it->is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& v : *it) {
    if (!v.is_string()) return std::nullopt;
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::string String(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

/// A digest member; empty when absent or not a digest (it then matches no real key).
Digest DigestOf(const nlohmann::json& j, const char* name) {
  auto d = Digest::Parse(String(j, name));
  return d ? *d : Digest();
}

class StoreBuildHistory : public BuildHistory {
 public:
  StoreBuildHistory(MetadataStore& meta, BlobStore& blobs) : meta_(meta), blobs_(blobs) {}

  Result<std::optional<StepRecord>> Load(const Digest& slot) override {
    auto text = CB_TRY(meta_.GetCacheRecord(slot));
    if (!text) return std::optional<StepRecord>();
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::optional<StepRecord>();
    auto env = Strings(j, "env");
    auto sources = Strings(j, "sources");
    if (!env || !sources) return std::optional<StepRecord>();
    StepRecord rec{String(j, "text"), DigestOf(j, "parent"), DigestOf(j, "key"), std::move(*env),
                   std::move(*sources), std::nullopt};
    // The listing is advisory: a pruned or damaged blob only makes the explanation vaguer.
    if (auto blob = Digest::Parse(String(j, "files"))) {
      if (auto listing = blobs_.Get(*blob)) {
        if (auto files = ParseFiles(*listing)) rec.files = std::move(*files);
      }
    }
    return std::optional<StepRecord>(std::move(rec));
  }

  Status Save(const Digest& slot, const StepRecord& rec) override {
    nlohmann::json j = {{"text", rec.text}, {"parent", rec.parent.ToString()}, {"key", rec.key.ToString()},
                        {"env", rec.env}};
    if (!rec.sources.empty()) j["sources"] = rec.sources;
    if (rec.files && !rec.files->empty()) j["files"] = CB_TRY(blobs_.Put(SerializeFiles(*rec.files))).ToString();
    return meta_.PutCacheRecord(slot, j.dump());
  }

 private:
  MetadataStore& meta_;
  BlobStore& blobs_;
};

}  // namespace

std::unique_ptr<BuildHistory> NewStoreBuildHistory(MetadataStore& meta, BlobStore& blobs) {
  return std::make_unique<StoreBuildHistory>(meta, blobs);
}

Result<std::optional<StepRecord>> MemoryBuildHistory::Load(const Digest& slot) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = records_.find(slot);
  if (it == records_.end()) return std::optional<StepRecord>();
  return std::optional<StepRecord>(it->second);
}

Status MemoryBuildHistory::Save(const Digest& slot, const StepRecord& rec) {
  std::lock_guard<std::mutex> lock(mu_);
  StepRecord& kept = records_[slot] = rec;
  if (kept.files && kept.files->empty()) kept.files.reset();
  return Ok();
}

std::map<Digest, StepRecord> MemoryBuildHistory::records() const {
  std::lock_guard<std::mutex> lock(mu_);
  return records_;
}

}  // namespace cb::cache
