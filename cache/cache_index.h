// CacheIndex: cache key → what the step with that key produced (its layer, or none). The
// scheduler asks it before running a step and records every step it ran. Whether a recorded
// layer is still usable (its snapshot present) is the store's question, not the index's.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/digest.h"
#include "common/result.h"

namespace cb::cache {

class MetadataStore;

/// The result of a step: the layer it made (its uncompressed digest), or none (a config step,
/// or a filesystem step that changed nothing: an empty_layer history entry).
struct CacheRecord {
  std::optional<Digest> diff_id;
  bool operator==(const CacheRecord&) const = default;
};

/// The stored text of a record: `{"diff_id":"sha256:…"}`, or `{}` without a layer.
std::string FormatCacheRecord(const CacheRecord& rec);
/// Reads FormatCacheRecord's text; nullopt for text that is not such a record (not JSON, not
/// an object, a diff_id that is not a digest): the index treats it as absent.
std::optional<CacheRecord> ParseCacheRecord(std::string_view text);

/// Implementations are thread-safe: steps of parallel stages look up and record at once.
class CacheIndex {
 public:
  virtual ~CacheIndex() = default;
  /// The record of `key`; nullopt when there is none, or it is unreadable (the step runs again
  /// and Record overwrites it). Errors are the store's (I/O, database).
  virtual Result<std::optional<CacheRecord>> Lookup(const Digest& key) = 0;
  /// Records (or replaces) what the step with `key` produced.
  virtual Status Record(const Digest& key, const CacheRecord& rec) = 0;
};

/// The index of a store root: records in MetadataStore's cache table (a hit refreshes the
/// record's last use, which garbage collection reads). `meta` must outlive the index.
std::unique_ptr<CacheIndex> NewMetadataCacheIndex(MetadataStore& meta);

/// In memory, for tests: also counts calls and can hold records the test puts in directly.
class MemoryCacheIndex : public CacheIndex {
 public:
  Result<std::optional<CacheRecord>> Lookup(const Digest& key) override;
  Status Record(const Digest& key, const CacheRecord& rec) override;

  /// Copies of the current records and counters (thread-safe).
  std::map<Digest, CacheRecord> records() const;
  int lookups() const;
  int recorded() const;

 private:
  mutable std::mutex mu_;
  std::map<Digest, CacheRecord> records_;
  int lookups_ = 0, recorded_ = 0;
};

}  // namespace cb::cache
