// Garbage collection planning: which cache records, layers and blobs `cbuild prune` removes and
// what `cbuild system df` reports. Pure bookkeeping over facts the caller gathers (no I/O), so
// the rules are unit-tested without a store; cli/prune.cc gathers the facts under the root's
// exclusive gc lock (Leases::LockExclusive) and carries the plan out.
//
// What is kept:
//   - everything a tagged image references (manifest, config and layer blobs, its layers'
//     snapshots);
//   - everything a running cbuild process has leased (cache/lease.h), and the compressed blob
//     of each leased layer;
//   - every kept cache record and what it references: each "sha256:<hex>" in a record's text
//     that names a layer (diff_id) keeps that layer (snapshot, layer row, compressed blob), one
//     that names a blob keeps the blob.
// Which records are kept:
//   - default: all, except dangling ones (RequiredRefs names a digest the store no longer has);
//   - --keep-storage N: least recently used records go first until the store's total size is
//     at most N bytes;
//   - --all: none.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "cache/metadata_store.h"
#include "common/digest.h"

namespace cb::cache {

/// A file with several hard links in the snapshots (COPY links unchanged files from the
/// previous build's layer): its space is freed only when every link is gone.
struct SharedFile {
  uint64_t dev = 0, ino = 0;
  uint64_t links = 0;  ///< st_nlink
  int64_t bytes = 0;   ///< allocated
  bool operator<(const SharedFile& o) const { return dev != o.dev ? dev < o.dev : ino < o.ino; }
};

/// What the store holds for one layer (diff_id).
struct LayerFacts {
  Digest blob;                 ///< compressed blob, may be empty
  int64_t snapshot_bytes = 0;  ///< unpacked snapshot dir, 0 if none; without its shared files
  bool has_snapshot = false;
  bool has_record = false;     ///< a row in the layers table
  std::vector<SharedFile> shared;  ///< its files that have other links
};

struct GcInput {
  std::vector<CacheRecordInfo> records;  ///< least recently used first
  std::set<Digest> image_blobs;          ///< referenced by tagged images
  std::set<Digest> image_layers;         ///< diff_ids referenced by tagged images
  std::map<Digest, LayerFacts> layers;   ///< every layer known (table row or snapshot dir)
  std::map<Digest, int64_t> blobs;       ///< every stored blob and its size
  std::set<Digest> leased;               ///< blobs and layers running processes use
};

struct GcOptions {
  bool all = false;
  std::optional<int64_t> keep_bytes;  ///< --keep-storage
};

struct GcPlan {
  std::vector<Digest> records;  ///< cache records to delete
  std::vector<Digest> layers;   ///< layers to delete (snapshot dir and layer row)
  std::vector<Digest> blobs;    ///< blobs to delete
  int64_t freed_bytes = 0;
  int64_t total_bytes = 0;      ///< store size before
};

/// The digests a cache record cannot do without: the layer of a step record ("diff_id"), the
/// blob of a layer-blob record ("blob"). A record naming one the store lacks is dangling.
/// Other digests a record holds (cache keys, a build history's file listing) are not required.
std::vector<Digest> RequiredRefs(std::string_view record);

/// Decides what to delete. Deterministic; never touches what a tagged image references.
GcPlan PlanGc(const GcInput& in, const GcOptions& opts);

/// One row of `cbuild system df`.
struct UsageRow {
  int64_t total = 0, active = 0;  ///< items; active = in use by a tagged image
  int64_t bytes = 0, reclaimable = 0;
};

struct Usage {
  UsageRow images;       ///< tagged images; bytes = their blobs (compressed)
  UsageRow layers;       ///< layer snapshots; bytes = unpacked size
  UsageRow build_cache;  ///< cache records; bytes = data only cache keeps alive
};

/// `system df`: images, layers and build cache, with what `prune --all` would reclaim.
Usage ComputeUsage(const GcInput& in, int64_t image_count);

/// Parses sizes like "10GB", "512MiB", "1.5g", "1000" (bytes); kInvalidArgument otherwise.
Result<int64_t> ParseSize(std::string_view text);
/// "1.2GB", "340MB", "12kB", "0B" (decimal units, as docker prints).
std::string FormatSize(int64_t bytes);

}  // namespace cb::cache
