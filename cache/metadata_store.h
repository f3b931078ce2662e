// MetadataStore: the small, transactional facts of a root in SQLite (WAL): cache records,
// image tags and the layer table (diff_id → compressed blob). Blobs themselves live in BlobStore.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/digest.h"
#include "common/result.h"

namespace cb::cache {

/// A layer known to the store: its uncompressed digest and, once made, its compressed blob.
struct LayerRecord {
  Digest diff_id;
  Digest blob;             ///< empty until a compressed blob exists
  int64_t blob_size = 0;
  std::string media_type;
};

/// A cache record with its bookkeeping, for garbage collection.
struct CacheRecordInfo {
  Digest key;
  std::string record;
  int64_t created = 0;    ///< unix seconds
  int64_t last_used = 0;  ///< unix seconds; updated by every GetCacheRecord hit
};

class Leases;

/// One open connection in serialized mode: safe to share between threads. Several processes may
/// open the same root: WAL, one short transaction per statement (never a read upgraded to a
/// write), a busy timeout and retries with backoff on SQLITE_BUSY/LOCKED keep them from failing.
///
/// Leases (cache/lease.h): with set_leases, what a read returns is leased in the same section
/// as the read (a cache record's digests, a tag's manifest, a layer and its blob), and what a
/// write names is leased before it is written.
class MetadataStore {
 public:
  /// Opens (creating) <root>/metadata.db.
  static Result<std::unique_ptr<MetadataStore>> Open(const std::string& root);
  ~MetadataStore();
  void set_leases(Leases* leases) { leases_ = leases; }

  // Cache index: cache key → opaque record (JSON text written by the executor).
  Result<std::optional<std::string>> GetCacheRecord(const Digest& key);
  Status PutCacheRecord(const Digest& key, const std::string& record);

  /// Every cache record, least recently used first.
  Result<std::vector<CacheRecordInfo>> ListCacheRecords();
  Status DeleteCacheRecord(const Digest& key);

  // Tags: normalized image name → manifest digest.
  Status SetTag(const std::string& name, const Digest& manifest);
  Result<std::optional<Digest>> GetTag(const std::string& name);
  Result<std::vector<std::pair<std::string, Digest>>> ListTags();
  Result<bool> DeleteTag(const std::string& name);

  // Layers.
  Status PutLayer(const LayerRecord& rec);
  Result<std::optional<LayerRecord>> GetLayer(const Digest& diff_id);
  Result<std::vector<LayerRecord>> ListLayers();
  Status DeleteLayer(const Digest& diff_id);

  /// SQLite's `PRAGMA quick_check`: "ok", or what is wrong with the database file.
  Result<std::string> QuickCheck();

 private:
  struct Impl;
  explicit MetadataStore(std::unique_ptr<Impl> impl);
  Status Lease(const std::vector<Digest>& digests);
  std::unique_ptr<Impl> impl_;
  Leases* leases_ = nullptr;
};

}  // namespace cb::cache
