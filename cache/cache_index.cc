#include "cache/cache_index.h"

#include <nlohmann/json.hpp>

#include "cache/metadata_store.h"

namespace cb::cache {

std::string FormatCacheRecord(const CacheRecord& rec) {
  nlohmann::json j = nlohmann::json::object();
  if (rec.diff_id) j["diff_id"] = rec.diff_id->ToString();
  return j.dump();
}

std::optional<CacheRecord> ParseCacheRecord(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  CacheRecord rec;
  if (auto it = j.find("diff_id"); it != j.end()) {
    if (!it->is_string()) return std::nullopt;
    auto d = Digest::Parse(it->get<std::string>());
    if (!d) return std::nullopt;
    rec.diff_id = *d;
  }
  return rec;
}

namespace {

class MetadataCacheIndex : public CacheIndex {
 public:
  explicit MetadataCacheIndex(MetadataStore& meta) : meta_(meta) {}

  Result<std::optional<CacheRecord>> Lookup(const Digest& key) override {
    auto text = CB_TRY(meta_.GetCacheRecord(key));
    if (!text) return std::optional<CacheRecord>();
    return ParseCacheRecord(*text);
  }

  Status Record(const Digest& key, const CacheRecord& rec) override {
    return meta_.PutCacheRecord(key, FormatCacheRecord(rec));
  }

 private:
  MetadataStore& meta_;
};

}  // namespace

std::unique_ptr<CacheIndex> NewMetadataCacheIndex(MetadataStore& meta) {
  return std::make_unique<MetadataCacheIndex>(meta);
}

Result<std::optional<CacheRecord>> MemoryCacheIndex::Lookup(const Digest& key) {
  std::lock_guard<std::mutex> lock(mu_);
  ++lookups_;
  auto it = records_.find(key);
  if (it == records_.end()) return std::optional<CacheRecord>();
  return std::optional<CacheRecord>(it->second);
}

Status MemoryCacheIndex::Record(const Digest& key, const CacheRecord& rec) {
  std::lock_guard<std::mutex> lock(mu_);
  ++recorded_;
  records_[key] = rec;
  return Ok();
}

std::map<Digest, CacheRecord> MemoryCacheIndex::records() const {
  std::lock_guard<std::mutex> lock(mu_);
  return records_;
}

int MemoryCacheIndex::lookups() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lookups_;
}

int MemoryCacheIndex::recorded() const {
  std::lock_guard<std::mutex> lock(mu_);
  return recorded_;
}

}  // namespace cb::cache
