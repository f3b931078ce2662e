#include "store/store.h"

#include <dirent.h>
#include <fcntl.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "common/env_list.h"
#include "common/unique_fd.h"
#include "snapshotter/applier.h"

namespace cb::store {
namespace {

bool DirIsEmpty(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return false;
  bool empty = true;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  return empty;
}


}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& root) {
  std::unique_ptr<Store> s(new Store());
  // Absolute, so that paths handed to the sandbox (which changes directory) and to overlayfs
  // stay valid: `--root ./store` works like `--root $PWD/store`.
  std::error_code ec;
  std::string abs = root.empty() ? root : std::filesystem::absolute(root, ec).string();
  if (ec) return MakeError(ErrorCode::kIo, "store root `{}`: {}", root, ec.message());
  if (abs.size() > 1 && abs.back() == '/') abs.pop_back();
  s->root_ = abs;
  s->leases_ = CB_TRY(cache::Leases::Open(abs));
  s->blobs_ = CB_TRY(cache::BlobStore::Open(abs));
  s->blobs_->set_leases(s->leases_.get());
  s->meta_ = CB_TRY(cache::MetadataStore::Open(abs));
  s->meta_->set_leases(s->leases_.get());
  s->snaps_ = CB_TRY(snapshotter::Snapshotter::Open(abs));
  s->images_ = std::make_unique<image::ImageStore>(s->blobs_.get(), s->meta_.get());
  return s;
}

snapshotter::DiffOptions Store::LayerDiffOptions() {
  snapshotter::DiffOptions o;
  o.compression = snapshotter::Compression::kGzip;
  o.clamp_mtime = 0;
  if (const char* e = std::getenv("SOURCE_DATE_EPOCH"); e && *e) o.clamp_mtime = std::strtoll(e, nullptr, 10);
  return o;
}

Result<std::optional<cache::LayerRecord>> Store::CommitLayer(snapshotter::ActiveSnapshot& snap) {
  if (DirIsEmpty(snap.upper())) return std::optional<cache::LayerRecord>();
  // Lazy compression: only the diff_id is needed now; the tar is hashed, not written.
  snapshotter::DiffOptions opts = LayerDiffOptions();
  opts.compression = snapshotter::Compression::kNone;
  snapshotter::LayerBlob lb = CB_TRY(snapshotter::NewTarDiffer()->Diff(snap.upper(), -1, opts));
  cache::LayerRecord rec{lb.diff_id, lb.diff_id, lb.size, lb.media_type};
  // Leased before it appears; the snapshot before its record, so that a crash in between leaves
  // an unreferenced snapshot (garbage for prune), never a record of a missing layer.
  CB_TRY(leases_->Add(lb.diff_id));
  CB_TRY(snaps_->Commit(snap, lb.diff_id));
  CB_TRY(RememberLayerSource(rec, opts));
  return std::optional<cache::LayerRecord>(rec);
}

Status Store::EnsureSnapshots(const image::Image& img) {
  const auto& ids = img.config.diff_ids;
  if (ids.size() != img.manifest.layers.size())
    return MakeError(ErrorCode::kCorrupt, "image {}: {} layers but {} diff_ids", img.manifest_digest.ToString(),
                     img.manifest.layers.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    CB_TRY(leases_->Add(ids[i]));  // before the check: a prune cannot take it after
    if (snaps_->HasLayer(ids[i])) continue;
    const auto& desc = img.manifest.layers[i];
    UniqueFd fd = CB_TRY(blobs_->Open(desc.digest));
    auto snap = CB_TRY(snaps_->Prepare({}));
    snapshotter::ApplyOptions opts;
    opts.expected_diff_id = ids[i];
    CB_TRY_CTX(snapshotter::NewTarApplier()->Apply(fd.get(), snap->upper(), opts), "unpack layer {}",
               desc.digest.ToString());
    CB_TRY(snaps_->Commit(*snap, ids[i]));
    CB_TRY(meta_->PutLayer({ids[i], desc.digest, desc.size, desc.media_type}));
  }
  return Ok();
}

Result<image::Image> Store::ImportRootfs(const std::string& tar_path) {
  UniqueFd fd(::open(tar_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError(errno, fmt::format("open `{}`", tar_path));
  auto snap = CB_TRY(snaps_->Prepare({}));
  snapshotter::ApplyOptions opts;
  CB_TRY_CTX(snapshotter::NewTarApplier()->Apply(fd.get(), snap->upper(), opts), "unpack `{}`", tar_path);
  auto layer = CB_TRY(CommitLayer(*snap));
  image::ImageConfig cfg;
  cfg.config.env.push_back(env::DefaultPathEntry());
  cfg.config.cmd = std::vector<std::string>{"sh"};
  image::Manifest m;
  image::HistoryEntry h;
  h.created_by = "cbuild import";
  h.comment = "imported from a root filesystem tarball";
  if (layer) {
    cfg.diff_ids.push_back(layer->diff_id);
    m.layers.push_back({layer->media_type, layer->blob, layer->blob_size, {}, std::nullopt});
  } else {
    h.empty_layer = true;
  }
  cfg.history.push_back(h);
  return images_->Put(m, cfg);
}

}  // namespace cb::store
