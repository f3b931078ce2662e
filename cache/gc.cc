#include "cache/gc.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "cache/lease.h"

namespace cb::cache {
namespace {

/// The sweep for a given set of kept records: what is deleted and what it frees.
struct Sweep {
  std::set<Digest> kept_layers, kept_blobs;
  std::vector<Digest> del_layers, del_blobs;
  int64_t freed = 0;
};

Sweep SweepFor(const GcInput& in, const std::vector<const CacheRecordInfo*>& kept) {
  Sweep s;
  s.kept_layers = in.image_layers;
  s.kept_blobs = in.image_blobs;
  for (const auto& d : in.leased) {
    if (in.layers.count(d)) s.kept_layers.insert(d);
    if (in.blobs.count(d)) s.kept_blobs.insert(d);
  }
  for (const auto* r : kept)
    for (const auto& d : DigestsIn(r->record)) {
      if (in.layers.count(d)) s.kept_layers.insert(d);
      if (in.blobs.count(d)) s.kept_blobs.insert(d);
    }
  for (const auto& id : s.kept_layers) {
    auto it = in.layers.find(id);
    if (it != in.layers.end() && !it->second.blob.empty()) s.kept_blobs.insert(it->second.blob);
  }
  std::map<SharedFile, uint64_t> dropped_links;  // shared files: links in deleted layers
  for (const auto& [id, facts] : in.layers)
    if (!s.kept_layers.count(id)) {
      s.del_layers.push_back(id);
      s.freed += facts.snapshot_bytes;
      for (const auto& f : facts.shared) ++dropped_links[f];
    }
  for (const auto& [f, n] : dropped_links)
    if (n >= f.links) s.freed += f.bytes;  // every link goes
  for (const auto& [d, size] : in.blobs)
    if (!s.kept_blobs.count(d)) {
      s.del_blobs.push_back(d);
      s.freed += size;
    }
  return s;
}

bool Dangling(const GcInput& in, const CacheRecordInfo& r) {
  for (const auto& d : RequiredRefs(r.record))
    if (!in.layers.count(d) && !in.blobs.count(d)) return true;
  return false;
}

/// Space of the shared files of `in`'s layers (those passing `pick`), each file once.
template <typename Pick>
int64_t SharedBytes(const GcInput& in, Pick pick) {
  std::set<SharedFile> seen;
  int64_t t = 0;
  for (const auto& [id, f] : in.layers)
    if (pick(id, f))
      for (const auto& s : f.shared)
        if (seen.insert(s).second) t += s.bytes;
  return t;
}

int64_t TotalBytes(const GcInput& in) {
  int64_t t = SharedBytes(in, [](const Digest&, const LayerFacts&) { return true; });
  for (const auto& [id, f] : in.layers) t += f.snapshot_bytes;
  for (const auto& [d, size] : in.blobs) t += size;
  return t;
}

}  // namespace

std::vector<Digest> RequiredRefs(std::string_view record) {
  std::vector<Digest> out;
  auto j = nlohmann::json::parse(record, nullptr, false);
  if (!j.is_object()) return out;
  for (const char* field : {"diff_id", "blob"}) {
    auto it = j.find(field);
    if (it == j.end() || !it->is_string()) continue;
    if (auto d = Digest::Parse(it->get<std::string>())) out.push_back(*d);
  }
  return out;
}

GcPlan PlanGc(const GcInput& in, const GcOptions& opts) {
  GcPlan plan;
  plan.total_bytes = TotalBytes(in);
  std::vector<const CacheRecordInfo*> kept;
  for (const auto& r : in.records) {
    if (opts.all || Dangling(in, r)) {
      plan.records.push_back(r.key);
    } else {
      kept.push_back(&r);
    }
  }
  Sweep s = SweepFor(in, kept);
  if (opts.keep_bytes) {
    // Least recently used first, until what remains fits.
    size_t drop = 0;
    while (plan.total_bytes - s.freed > *opts.keep_bytes && drop < kept.size()) {
      plan.records.push_back(kept[drop]->key);
      ++drop;
      s = SweepFor(in, std::vector<const CacheRecordInfo*>(kept.begin() + static_cast<long>(drop), kept.end()));
    }
  }
  plan.layers = std::move(s.del_layers);
  plan.blobs = std::move(s.del_blobs);
  plan.freed_bytes = s.freed;
  return plan;
}

Usage ComputeUsage(const GcInput& in, int64_t image_count) {
  Usage u;
  u.images.total = u.images.active = image_count;
  for (const auto& d : in.image_blobs)
    if (auto it = in.blobs.find(d); it != in.blobs.end()) u.images.bytes += it->second;
  for (const auto& [id, f] : in.layers) {
    if (!f.has_snapshot) continue;
    ++u.layers.total;
    u.layers.bytes += f.snapshot_bytes;
    if (in.image_layers.count(id)) {
      ++u.layers.active;
    } else {
      u.layers.reclaimable += f.snapshot_bytes;
    }
  }
  // Shared files count once; reclaimable when no tagged image's layer holds them.
  std::set<SharedFile> held, seen;
  for (const auto& id : in.image_layers)
    if (auto it = in.layers.find(id); it != in.layers.end()) held.insert(it->second.shared.begin(), it->second.shared.end());
  for (const auto& [id, f] : in.layers) {
    if (!f.has_snapshot) continue;
    for (const auto& sf : f.shared) {
      if (!seen.insert(sf).second) continue;
      u.layers.bytes += sf.bytes;
      if (!held.count(sf)) u.layers.reclaimable += sf.bytes;
    }
  }
  u.build_cache.total = static_cast<int64_t>(in.records.size());
  // What the cache alone keeps alive: the difference between keeping all records and none.
  std::vector<const CacheRecordInfo*> all;
  for (const auto& r : in.records) all.push_back(&r);
  int64_t freed_none = SweepFor(in, {}).freed, freed_all = SweepFor(in, all).freed;
  u.build_cache.bytes = u.build_cache.reclaimable = freed_none - freed_all;
  return u;
}

Result<int64_t> ParseSize(std::string_view text) {
  std::string t(text);
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (end == t.c_str() || v < 0 || !std::isfinite(v))
    return MakeError(ErrorCode::kInvalidArgument, "invalid size `{}`", text);
  std::string unit;
  for (const char* p = end; *p; ++p) unit.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(*p))));
  if (!unit.empty() && unit.back() == 'b') unit.pop_back();
  if (!unit.empty() && unit.back() == 'i') unit.pop_back();
  double mult = 1;
  if (unit == "k") {
    mult = 1024.0;
  } else if (unit == "m") {
    mult = 1024.0 * 1024;
  } else if (unit == "g") {
    mult = 1024.0 * 1024 * 1024;
  } else if (unit == "t") {
    mult = 1024.0 * 1024 * 1024 * 1024;
  } else if (!unit.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "invalid size `{}` (use B, KB, MB, GB or TB)", text);
  }
  return static_cast<int64_t>(v * mult);
}

std::string FormatSize(int64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  if (u == 0) return fmt::format("{}B", bytes);
  return fmt::format("{:.3g}{}", v, units[u]);
}

}  // namespace cb::cache
