#include "store/check.h"

#include <sys/stat.h>

#include <map>
#include <optional>
#include <set>

#include "cache/gc.h"
#include "common/fs.h"

namespace cb::store {
namespace {

using snapshotter::Compression;

enum class BlobState { kSound, kMissing, kCorrupt };

Compression CompressionOf(const std::string& media_type) {
  if (media_type.find("gzip") != std::string::npos) return Compression::kGzip;
  if (media_type.find("zstd") != std::string::npos) return Compression::kZstd;
  return Compression::kNone;
}

/// One run of the check: what is known so far, and the findings.
class Checker {
 public:
  Checker(Store& s, const CheckOptions& o) : s_(s), opts_(o) {}

  /// Every entry of blobs/sha256 re-hashed (no lock: blobs never change in place).
  Status Blobs() {
    std::string dir = s_.root() + "/blobs/sha256";
    for (const auto& name : CB_TRY(fs::ListDir(dir))) {
      auto d = Digest::Parse("sha256:" + name);
      if (!d) {
        Find(fmt::format("`blobs/sha256/{}`: not a blob name", name), [&] { return RemovePath(dir + "/" + name); });
        continue;
      }
      ++report_.blobs;
      Examine(*d);
    }
    return Ok();
  }

  /// The rest, under the exclusive gc lock.
  Status References() {
    leased_ = CB_TRY(s_.leases().Live());
    CB_TRY(Snapshots());
    CB_TRY(Images());
    CB_TRY(LayerRecords());
    CB_TRY(CacheRecords());
    std::string db = CB_TRY(s_.meta().QuickCheck());
    if (db != "ok") Find(fmt::format("`metadata.db`: {}", db), nullptr);
    return Ok();
  }

  CheckReport Take() { return std::move(report_); }

 private:
  /// A blob's state, checked once (a blob made since the blob pass is checked when first named).
  BlobState Examine(const Digest& d) {
    if (auto it = blobs_.find(d); it != blobs_.end()) return it->second;
    auto st = s_.blobs().Verify(d, /*remove=*/false);
    BlobState state = st ? BlobState::kSound
                         : st.error().code == ErrorCode::kNotFound ? BlobState::kMissing : BlobState::kCorrupt;
    if (state == BlobState::kCorrupt) {
      blob_finding_[d] = report_.findings.size();  // a repair may remake it (see Images)
      Find(st.error().message, [&]() -> Result<std::string> {
        CB_TRY(s_.blobs().Remove(d));
        return std::string("removed");
      });
      if (opts_.repair) state = BlobState::kMissing;
    }
    blobs_[d] = state;
    return state;
  }
  bool Sound(const Digest& d) { return !d.empty() && Examine(d) == BlobState::kSound; }

  /// Records a finding; with repair, runs `fix` (null: cannot be repaired).
  template <typename Fix>
  void Find(std::string what, Fix fix) {
    Finding f{std::move(what), "", false};
    if (opts_.repair) {
      if constexpr (std::is_same_v<Fix, std::nullptr_t>) {
        f.repair = "cannot be repaired";
      } else if (Result<std::string> done = fix(); done) {
        f.repair = *done;
        f.fixed = true;
      } else {
        f.repair = "repair failed: " + done.error().message;
      }
    }
    report_.findings.push_back(std::move(f));
  }

  static Result<std::string> RemovePath(const std::string& path) {
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      CB_TRY(fs::RemoveTree(path));
    } else if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoError(errno, fmt::format("remove `{}`", path));
    }
    return std::string("removed");
  }

  /// snapshots/: every layer a real directory.
  Status Snapshots() {
    std::string dir = s_.root() + "/snapshots";
    for (const auto& name : CB_TRY(fs::ListDir(dir))) {
      std::string path = dir + "/" + name;
      struct stat st;
      if (::lstat(path.c_str(), &st) != 0) continue;
      auto id = Digest::Parse("sha256:" + name);
      if (!id && name != "_empty" && name != "_trash") {
        Find(fmt::format("`snapshots/{}`: not a layer name", name), [&] { return RemovePath(path); });
      } else if (!S_ISDIR(st.st_mode)) {
        std::string kind = S_ISLNK(st.st_mode) ? "a symbolic link" : "not a directory";
        if (id) {
          Find(fmt::format("layer snapshot {}: {}", id->ToString(), kind), [&]() -> Result<std::string> {
            CB_TRY(s_.snapshots().RemoveLayer(*id));
            return std::string("removed");
          });
        } else {
          Find(fmt::format("`snapshots/{}`: {}", name, kind), [&]() -> Result<std::string> {
            CB_TRY(RemovePath(path));
            CB_TRY(fs::MakeDirs(path));
            return std::string("made again");
          });
        }
      } else if (id) {
        ++report_.layers;
        snapshots_.insert(*id);
      }
    }
    return Ok();
  }

  bool HasLayer(const Digest& id) const { return snapshots_.count(id) > 0; }

  /// Every tag: a sound manifest and config, each layer as a snapshot or a sound blob.
  Status Images() {
    for (const auto& [name, manifest] : CB_TRY(s_.meta().ListTags())) {
      ++report_.images;
      std::string problem = ImageProblem(manifest);
      if (problem.empty()) continue;
      auto ref = image::ParseReference(name);
      std::string shown = ref ? ref->Familiar() : name;
      Find(fmt::format("image `{}` ({}): {}", shown, manifest.ToString(), problem), [&]() -> Result<std::string> {
        CB_TRY(s_.meta().DeleteTag(name));
        return std::string("tag removed: build or pull the image again");
      });
    }
    return Ok();
  }

  /// What makes the image unusable ("" when it is sound); remakes layer blobs a repair removed.
  /// Each blob is known sound before it is read (a read would remove a corrupt one).
  std::string ImageProblem(const Digest& manifest_digest) {
    if (!Sound(manifest_digest)) return fmt::format("manifest {} is missing or corrupt", manifest_digest.ToString());
    auto text = s_.blobs().Get(manifest_digest);
    if (!text) return text.error().message;
    auto manifest = image::ParseManifest(*text, "manifest " + manifest_digest.ToString());
    if (!manifest) return manifest.error().message;
    if (!Sound(manifest->config.digest))
      return fmt::format("config {} is missing or corrupt", manifest->config.digest.ToString());
    auto img = s_.images().Get(manifest_digest);
    if (!img) return img.error().message;
    const auto& ids = img->config.diff_ids;
    if (ids.size() != img->manifest.layers.size())
      return fmt::format("{} layers but {} diff_ids", img->manifest.layers.size(), ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      const auto& desc = img->manifest.layers[i];
      if (opts_.repair && blob_finding_.count(desc.digest) && HasLayer(ids[i])) Remake(ids[i], desc);
      if (!HasLayer(ids[i]) && !Sound(desc.digest))
        return fmt::format("layer {} ({}) has neither a snapshot nor a sound blob", i + 1, ids[i].ToString());
    }
    return "";
  }

  /// A layer blob removed as corrupt, made again from the layer's snapshot.
  void Remake(const Digest& diff_id, const image::Descriptor& desc) {
    Finding& f = report_.findings[blob_finding_[desc.digest]];
    auto rec = s_.EnsureBlob(diff_id, CompressionOf(desc.media_type));
    if (rec && rec->blob == desc.digest) {
      f.repair = "removed, remade from its layer's snapshot";
      blobs_[desc.digest] = BlobState::kSound;
    } else {
      f.repair = "removed; its layer's snapshot remains (save and push make a new blob)";
    }
    blob_finding_.erase(desc.digest);
  }

  /// Every layer record: its snapshot or its blob is stored.
  Status LayerRecords() {
    for (const auto& rec : CB_TRY(s_.meta().ListLayers())) {
      if (HasLayer(rec.diff_id) || leased_.count(rec.diff_id) || Sound(rec.blob)) continue;
      Find(fmt::format("layer record {}: neither its snapshot nor its blob {} is stored", rec.diff_id.ToString(),
                       rec.blob.ToString()),
           [&]() -> Result<std::string> {
             CB_TRY(s_.meta().DeleteLayer(rec.diff_id));
             return std::string("record removed");
           });
    }
    return Ok();
  }

  /// Every cache record: what it cannot do without (cache::RequiredRefs: the layer it names,
  /// its blob) is stored.
  Status CacheRecords() {
    for (const auto& r : CB_TRY(s_.meta().ListCacheRecords())) {
      ++report_.records;
      std::string missing;
      for (const auto& d : cache::RequiredRefs(r.record))
        if (!HasLayer(d) && !leased_.count(d) && !Sound(d)) missing = fmt::format("{} is not stored", d.ToString());
      if (missing.empty()) continue;
      Find(fmt::format("cache record {}: {}", r.key.ToString(), missing), [&]() -> Result<std::string> {
        CB_TRY(s_.meta().DeleteCacheRecord(r.key));
        return std::string("record removed");
      });
    }
    return Ok();
  }

  Store& s_;
  const CheckOptions& opts_;
  CheckReport report_;
  std::map<Digest, BlobState> blobs_;
  std::map<Digest, size_t> blob_finding_;  ///< corrupt blobs: their finding
  std::set<Digest> snapshots_, leased_;
};

}  // namespace

bool CheckReport::Sound() const {
  for (const auto& f : findings)
    if (!f.fixed) return false;
  return true;
}

Result<CheckReport> CheckStore(Store& store, const CheckOptions& opts) {
  Checker c(store, opts);
  CB_TRY(c.Blobs());
  CB_TRY(store.leases().LockExclusive(true));
  Status st = c.References();
  store.leases().UnlockExclusive();
  CB_TRY(std::move(st));
  return c.Take();
}

}  // namespace cb::store
