// Store's lazy layer blobs: a build records each layer uncompressed (blob = diff_id, not
// written); EnsureBlob makes the compressed blob the first time save, load, push or --output
// needs it, and remembers it in a cache record keyed by (diff_id, media type).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <map>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/store.h"
#include "snapshotter/recompress.h"

namespace cb::store {
namespace {

Digest BlobKey(const Digest& diff_id, const std::string& media_type) {
  return Sha256Of("cbuild-layer-blob-v1\n" + diff_id.ToString() + "\n" + media_type);
}

Digest SourceKey(const Digest& diff_id) { return Sha256Of("cbuild-layer-source-v1\n" + diff_id.ToString()); }

const snapshotter::Compression kAllCompressions[] = {snapshotter::Compression::kNone, snapshotter::Compression::kGzip,
                                                    snapshotter::Compression::kZstd};

}  // namespace

Status Store::RememberLayerSource(const cache::LayerRecord& rec, const snapshotter::DiffOptions& opts) {
  // A compressed blob of the same layer stored before (a load or pull) stays findable.
  auto old = CB_TRY(meta_->GetLayer(rec.diff_id));
  if (old && !old->blob.empty() && old->media_type != rec.media_type) CB_TRY(RecordLayerBlob(*old));
  nlohmann::json j = {{"clamp_mtime", opts.clamp_mtime ? nlohmann::json(*opts.clamp_mtime) : nlohmann::json()}};
  CB_TRY(meta_->PutCacheRecord(SourceKey(rec.diff_id), j.dump()));
  return meta_->PutLayer(rec);
}

Status Store::RecordLayerBlob(const cache::LayerRecord& rec) {
  nlohmann::json j = {{"blob", rec.blob.ToString()}, {"size", rec.blob_size}};
  return meta_->PutCacheRecord(BlobKey(rec.diff_id, rec.media_type), j.dump());
}

Result<std::optional<cache::LayerRecord>> Store::FindLayerBlob(const Digest& diff_id, const std::string& media_type) {
  using Out = std::optional<cache::LayerRecord>;
  auto rec = CB_TRY(meta_->GetLayer(diff_id));
  if (rec && rec->media_type == media_type && !rec->blob.empty() && blobs_->HasVerified(rec->blob)) return Out(*rec);
  auto text = CB_TRY(meta_->GetCacheRecord(BlobKey(diff_id, media_type)));
  if (!text) return Out();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("blob")) return Out();
  auto blob = Digest::Parse(j.value("blob", ""));
  if (!blob || !blobs_->HasVerified(*blob)) return Out();
  return Out(cache::LayerRecord{diff_id, *blob, j.value("size", int64_t{0}), media_type});
}

Result<cache::LayerRecord> Store::EnsureBlob(const Digest& diff_id, snapshotter::Compression compression) {
  const std::string want = snapshotter::LayerMediaType(compression);
  if (auto have = CB_TRY(FindLayerBlob(diff_id, want))) return *have;
  snapshotter::DiffOptions opts = LayerDiffOptions();
  opts.compression = compression;
  opts.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto writer = CB_TRY(blobs_->NewWriter());
  std::optional<snapshotter::LayerBlob> made;
  // Prefer recompressing a stored blob (it is the layer's exact tar); else diff the snapshot.
  for (auto c : kAllCompressions) {
    if (c == compression) continue;
    auto src = CB_TRY(FindLayerBlob(diff_id, snapshotter::LayerMediaType(c)));
    if (!src) continue;
    UniqueFd in = CB_TRY(blobs_->Open(src->blob));
    made = CB_TRY(snapshotter::Recompress(in.get(), writer->fd(), opts, "blob " + src->blob.ToString()));
    break;
  }
  if (!made) {
    if (!snaps_->HasLayer(diff_id))
      return MakeError(ErrorCode::kNotFound, "layer {}: no snapshot and no stored blob to make a {} blob from",
                       diff_id.ToString(), want);
    if (auto src = CB_TRY(meta_->GetCacheRecord(SourceKey(diff_id)))) {
      auto j = nlohmann::json::parse(*src, nullptr, false);
      if (j.is_object() && j.contains("clamp_mtime"))
        opts.clamp_mtime = j["clamp_mtime"].is_number() ? std::optional<int64_t>(j["clamp_mtime"].get<int64_t>())
                                                        : std::nullopt;
    }
    made = CB_TRY(snapshotter::NewTarDiffer()->Diff(snaps_->LayerPath(diff_id), writer->fd(), opts));
  }
  if (made->diff_id != diff_id)
    return MakeError(ErrorCode::kCorrupt, "layer {}: its {} blob has diff_id {} (the layer changed on disk?)",
                     diff_id.ToString(), want, made->diff_id.ToString());
  CB_TRY(writer->Commit(made->digest, made->size));
  cache::LayerRecord rec{diff_id, made->digest, made->size, made->media_type};
  CB_TRY(RecordLayerBlob(rec));
  return rec;
}

std::vector<Result<cache::LayerRecord>> Store::EnsureBlobs(const std::vector<Digest>& diff_ids,
                                                           snapshotter::Compression compression) {
  std::vector<Digest> unique;
  std::map<Digest, size_t> slot;
  for (const auto& d : diff_ids)
    if (slot.try_emplace(d, unique.size()).second) unique.push_back(d);
  std::vector<std::optional<Result<cache::LayerRecord>>> made(unique.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < unique.size(); i = next++) made[i].emplace(EnsureBlob(unique[i], compression));
  };
  size_t cores = std::max(1u, std::thread::hardware_concurrency());
  size_t extra = std::min({unique.size(), cores, size_t{4}});
  std::vector<std::thread> threads;
  for (size_t t = 1; t < extra; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  std::vector<Result<cache::LayerRecord>> out;
  out.reserve(diff_ids.size());
  for (const auto& d : diff_ids) out.push_back(*made[slot[d]]);
  return out;
}

}  // namespace cb::store
