#include "registry/blob_sources.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace cb::registry {
namespace {

constexpr size_t kMaxSources = 8;

Digest KeyOf(const Digest& blob) { return Sha256Of("cbuild.registry.blob-source.v1\n" + blob.ToString()); }

}  // namespace

std::vector<std::string> BlobSources(cache::MetadataStore& meta, const Digest& blob) {
  auto rec = meta.GetCacheRecord(KeyOf(blob));
  if (!rec || !*rec) return {};
  auto j = nlohmann::json::parse(**rec, nullptr, false);
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& s : j)
    if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

void AddBlobSource(cache::MetadataStore& meta, const Digest& blob, const std::string& repository) {
  std::vector<std::string> list = BlobSources(meta, blob);
  list.erase(std::remove(list.begin(), list.end(), repository), list.end());
  list.insert(list.begin(), repository);
  if (list.size() > kMaxSources) list.resize(kMaxSources);
  (void)meta.PutCacheRecord(KeyOf(blob), nlohmann::json(list).dump());
}

}  // namespace cb::registry
