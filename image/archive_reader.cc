#include "image/archive_reader.h"

#include <archive.h>
#include <archive_entry.h>

#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "common/path.h"

namespace cb::image {
namespace {

constexpr int64_t kKeepInMemory = 8 << 20;  // manifests, configs, indexes are far smaller

struct Entry {
  std::unique_ptr<cache::BlobWriter> writer;
  Digest digest;
  int64_t size = 0;
  std::string head;     ///< first bytes (compression detection)
  std::string content;  ///< whole content when small
  bool small = false;
  std::string link;     ///< symlink / hard link target (cleaned path), else empty
};

/// "./a//b" → "a/b", "a/../b" → "b"; *bad for an absolute path or a `..` above the root.
std::string CleanName(std::string_view n, bool* bad) {
  auto comps = path::SplitBelowRoot(n);
  *bad = (!n.empty() && n[0] == '/') || !comps;
  return comps ? path::Join(*comps, comps->size()) : std::string();
}

struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

}  // namespace

struct StagedArchive::Impl {
  std::map<std::string, Entry> entries;
  std::map<Digest, std::string> by_digest;
  std::map<Digest, std::string> extra;  ///< blobs made here (docker-archive manifests)
  std::string path;

  Result<const Entry*> Find(const std::string& name) const {
    std::string n = name;
    for (int hop = 0; hop < 16; ++hop) {
      auto it = entries.find(n);
      if (it == entries.end()) return MakeError(ErrorCode::kCorrupt, "archive `{}`: no entry `{}`", path, name);
      if (it->second.link.empty()) return &it->second;
      n = it->second.link;
    }
    return MakeError(ErrorCode::kCorrupt, "archive `{}`: entry `{}`: too many links", path, name);
  }
  Result<const Entry*> Blob(const Descriptor& d, const std::string& what) const {
    const Entry* e = CB_TRY(Find("blobs/sha256/" + d.digest.Hex()));
    if (e->digest != d.digest)
      return MakeError(ErrorCode::kCorrupt, "archive `{}`: {} blob {} has digest {}", path, what, d.digest.ToString(),
                       e->digest.ToString());
    if (e->size != d.size)
      return MakeError(ErrorCode::kCorrupt, "archive `{}`: {} blob {} has {} bytes, its descriptor says {}", path, what,
                       d.digest.ToString(), e->size, d.size);
    return e;
  }
  Result<std::string> Small(const Entry* e, const std::string& what) const {
    if (!e->small) return MakeError(ErrorCode::kCorrupt, "archive `{}`: {} is too large ({} bytes)", path, what, e->size);
    return e->content;
  }
  Status ReadAll(cache::BlobStore& blobs, archive* a);
  Status AddOci(StagedArchive& out);
  Status AddDocker(StagedArchive& out);
  Status AddOciManifest(StagedArchive& out, const Descriptor& d, const std::vector<Reference>& names, int depth);
};

StagedArchive::StagedArchive() : impl_(std::make_unique<Impl>()) {}
StagedArchive::~StagedArchive() = default;
StagedArchive::StagedArchive(StagedArchive&&) noexcept = default;
StagedArchive& StagedArchive::operator=(StagedArchive&&) noexcept = default;

Status StagedArchive::Impl::ReadAll(cache::BlobStore& blobs, archive* a) {
  archive_entry* ae = nullptr;
  std::unique_ptr<char[]> buf(new char[1 << 20]);
  for (;;) {
    int r = archive_read_next_header(a, &ae);
    if (r == ARCHIVE_EOF) return Ok();
    if (r < ARCHIVE_WARN)
      return MakeError(ErrorCode::kCorrupt, "read archive `{}`: {}", path, archive_error_string(a) ?: "error");
    bool bad = false;
    std::string name = CleanName(archive_entry_pathname(ae) ?: "", &bad);
    if (bad) return MakeError(ErrorCode::kCorrupt, "archive `{}`: entry `{}`: name leaves the archive", path,
                              archive_entry_pathname(ae));
    Entry e;
    if (const char* hl = archive_entry_hardlink(ae)) {
      e.link = CleanName(hl, &bad);
    } else if (archive_entry_filetype(ae) == AE_IFLNK) {
      std::string dir = name.find('/') == std::string::npos ? "" : name.substr(0, name.rfind('/') + 1);
      const char* t = archive_entry_symlink(ae) ?: "";
      e.link = CleanName(t[0] == '/' ? std::string(t) : dir + t, &bad);
    } else if (archive_entry_filetype(ae) != AE_IFREG) {
      continue;
    }
    if (bad) continue;  // a link out of the archive is never followed (naming it is "no entry")
    if (e.link.empty()) {
      e.writer = CB_TRY(blobs.NewWriter());
      e.small = archive_entry_size(ae) <= kKeepInMemory;
      Sha256 h;
      for (;;) {
        la_ssize_t n = archive_read_data(a, buf.get(), 1 << 20);
        if (n < 0) return MakeError(ErrorCode::kCorrupt, "archive `{}`: entry `{}`: {}", path, name,
                                    archive_error_string(a) ?: "read error");
        if (n == 0) break;
        std::string_view chunk(buf.get(), static_cast<size_t>(n));
        h.Update(chunk.data(), chunk.size());
        e.size += n;
        if (e.head.size() < 8) e.head += chunk.substr(0, 8 - e.head.size());
        if (e.small) e.content += chunk;
        CB_TRY(e.writer->Write(chunk));
      }
      e.digest = h.Finish();
      by_digest.emplace(e.digest, name);
    }
    entries[name] = std::move(e);
  }
}

Status StagedArchive::Impl::AddOciManifest(StagedArchive& out, const Descriptor& d, const std::vector<Reference>& names,
                                            int depth) {
  const Entry* e = CB_TRY(Blob(d, "manifest"));
  std::string json = CB_TRY(Small(e, "manifest " + d.digest.ToString()));
  if (d.media_type == kMediaTypeIndex || d.media_type == "application/vnd.docker.distribution.manifest.list.v2+json") {
    if (depth > 4) return MakeError(ErrorCode::kCorrupt, "archive `{}`: indexes nested too deep", path);
    Index idx = CB_TRY(ParseIndex(json, "index " + d.digest.ToString()));
    const Descriptor* pick = nullptr;
    for (const auto& m : idx.manifests)
      if (!pick && (!m.platform || (m.platform->os == "linux" && m.platform->architecture == "amd64"))) pick = &m;
    if (!pick) return MakeError(ErrorCode::kNotFound, "archive `{}`: index {} has no linux/amd64 image", path,
                                d.digest.ToString());
    return AddOciManifest(out, *pick, names, depth + 1);
  }
  ArchiveImage ai;
  ai.names = names;
  ai.image.manifest_digest = d.digest;
  ai.image.manifest_size = d.size;
  ai.image.manifest = CB_TRY(ParseManifest(json, "manifest " + d.digest.ToString()));
  const Entry* ce = CB_TRY(Blob(ai.image.manifest.config, "config"));
  ai.image.config_digest = ai.image.manifest.config.digest;
  ai.image.config = CB_TRY(ParseConfig(CB_TRY(Small(ce, "config")), "config " + ai.image.config_digest.ToString()));
  for (const auto& l : ai.image.manifest.layers) CB_TRY(Blob(l, "layer"));
  if (ai.image.config.diff_ids.size() != ai.image.manifest.layers.size())
    return MakeError(ErrorCode::kCorrupt, "archive `{}`: image {} has {} layers but {} diff_ids", path,
                     d.digest.ToString(), ai.image.manifest.layers.size(), ai.image.config.diff_ids.size());
  for (size_t i = 0; i < ai.image.manifest.layers.size(); ++i) {
    const auto& l = ai.image.manifest.layers[i];
    bool plain = l.media_type == kMediaTypeLayer || l.media_type == "application/vnd.docker.image.rootfs.diff.tar";
    if (plain && l.digest != ai.image.config.diff_ids[i])
      return MakeError(ErrorCode::kCorrupt, "archive `{}`: layer {} is uncompressed but the config's diff_id is {}",
                       path, l.digest.ToString(), ai.image.config.diff_ids[i].ToString());
  }
  out.images_.push_back(std::move(ai));
  return Ok();
}

Status StagedArchive::Impl::AddOci(StagedArchive& out) {
  const Entry* ie = CB_TRY(Find("index.json"));
  Index index = CB_TRY(ParseIndex(CB_TRY(Small(ie, "index.json")), "index.json"));
  if (index.manifests.empty()) return MakeError(ErrorCode::kCorrupt, "archive `{}`: index.json lists no image", path);
  // Several index entries naming one manifest are one image with several names.
  std::map<Digest, std::pair<Descriptor, std::vector<Reference>>> by_manifest;
  std::vector<Digest> order;
  for (const auto& d : index.manifests) {
    auto [it, fresh] = by_manifest.try_emplace(d.digest, d, std::vector<Reference>{});
    if (fresh) order.push_back(d.digest);
    std::string name;
    if (auto a = d.annotations.find("io.containerd.image.name"); a != d.annotations.end()) {
      name = a->second;
    } else if (auto r = d.annotations.find("org.opencontainers.image.ref.name"); r != d.annotations.end()) {
      // A bare tag ("latest") names no repository; skopeo and podman write full names here.
      if (r->second.find_first_of("/:") != std::string::npos) name = r->second;
    }
    if (name.empty()) continue;
    auto ref = ParseReference(name);
    if (!ref) return MakeError(ErrorCode::kCorrupt, "archive `{}`: image name `{}`: {}", path, name, ref.error().message);
    it->second.second.push_back(*ref);
  }
  for (const auto& dg : order) CB_TRY(AddOciManifest(out, by_manifest[dg].first, by_manifest[dg].second, 0));
  return Ok();
}

Status StagedArchive::Impl::AddDocker(StagedArchive& out) {
  const Entry* me = CB_TRY(Find("manifest.json"));
  auto j = nlohmann::json::parse(CB_TRY(Small(me, "manifest.json")), nullptr, false);
  if (!j.is_array() || j.empty()) return MakeError(ErrorCode::kCorrupt, "archive `{}`: manifest.json is not a list of images", path);
  for (const auto& item : j) {
    if (!item.is_object() || !item.contains("Config") || !item["Config"].is_string() || !item.contains("Layers") ||
        !item["Layers"].is_array())
      return MakeError(ErrorCode::kCorrupt, "archive `{}`: manifest.json: an entry lacks Config or Layers", path);
    ArchiveImage ai;
    std::string cfg_name = item["Config"].get<std::string>();
    const Entry* ce = CB_TRY(Find(cfg_name));
    std::string cfg_json = CB_TRY(Small(ce, "config `" + cfg_name + "`"));
    ai.image.config_digest = ce->digest;
    ai.image.config = CB_TRY(ParseConfig(cfg_json, "config `" + cfg_name + "`"));
    Manifest m;
    m.config = {kMediaTypeConfig, ce->digest, ce->size, {}, std::nullopt};
    if (ai.image.config.diff_ids.size() != item["Layers"].size())
      return MakeError(ErrorCode::kCorrupt, "archive `{}`: config `{}` has {} diff_ids but manifest.json lists {} layers",
                       path, cfg_name, ai.image.config.diff_ids.size(), item["Layers"].size());
    for (size_t i = 0; i < item["Layers"].size(); ++i) {
      std::string ln = item["Layers"][i].is_string() ? item["Layers"][i].get<std::string>() : "";
      const Entry* le = CB_TRY(Find(ln));
      const std::string& h = le->head;
      std::string mt = kMediaTypeLayer;
      if (h.size() >= 2 && h[0] == '\x1f' && h[1] == '\x8b') mt = kMediaTypeLayerGzip;
      if (h.size() >= 4 && h.compare(0, 4, "\x28\xb5\x2f\xfd") == 0) mt = kMediaTypeLayerZstd;
      if (h.rfind("BZh", 0) == 0 || h.rfind("\xfd" "7zXZ", 0) == 0)
        return MakeError(ErrorCode::kUnsupported, "archive `{}`: layer `{}`: bzip2/xz layers are not supported", path, ln);
      if (mt == kMediaTypeLayer && le->digest != ai.image.config.diff_ids[i])
        return MakeError(ErrorCode::kCorrupt, "archive `{}`: layer `{}` has digest {} but the config's diff_id is {}",
                         path, ln, le->digest.ToString(), ai.image.config.diff_ids[i].ToString());
      m.layers.push_back({mt, le->digest, le->size, {}, std::nullopt});
    }
    std::string mj = ToJson(m);
    ai.image.manifest = m;
    ai.image.manifest_digest = Sha256Of(mj);
    ai.image.manifest_size = static_cast<int64_t>(mj.size());
    extra[ai.image.manifest_digest] = mj;
    if (item.contains("RepoTags") && item["RepoTags"].is_array()) {
      for (const auto& t : item["RepoTags"]) {
        if (!t.is_string()) continue;
        auto ref = ParseReference(t.get<std::string>());
        if (!ref) return MakeError(ErrorCode::kCorrupt, "archive `{}`: RepoTags `{}`: {}", path, t.get<std::string>(),
                                   ref.error().message);
        ai.names.push_back(*ref);
      }
    }
    out.images_.push_back(std::move(ai));
  }
  return Ok();
}

Result<std::vector<Digest>> StagedArchive::Commit(cache::BlobStore& blobs) {
  std::vector<Digest> added;
  std::set<Digest> seen;
  auto put = [&](const Digest& d) -> Status {
    if (!seen.insert(d).second || blobs.Has(d)) return Ok();
    if (auto x = impl_->extra.find(d); x != impl_->extra.end()) {
      CB_TRY(blobs.Put(x->second));
    } else {
      auto it = impl_->by_digest.find(d);
      if (it == impl_->by_digest.end())
        return MakeError(ErrorCode::kCorrupt, "archive `{}`: blob {} is missing", impl_->path, d.ToString());
      Entry& e = impl_->entries[it->second];
      CB_TRY(e.writer->Commit(d, e.size));
    }
    added.push_back(d);
    return Ok();
  };
  for (const auto& ai : images_) {
    CB_TRY(put(ai.image.manifest_digest));
    CB_TRY(put(ai.image.config_digest));
    for (const auto& l : ai.image.manifest.layers) CB_TRY(put(l.digest));
  }
  return added;
}

Result<StagedArchive> ReadArchive(cache::BlobStore& blobs, const std::string& path) {
  StagedArchive out;
  out.impl_->path = path;
  std::unique_ptr<archive, ArchiveReadFree> a(archive_read_new());
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  int r = path == "-" ? archive_read_open_fd(a.get(), 0, 1 << 20)
                      : archive_read_open_filename(a.get(), path.c_str(), 1 << 20);
  if (r != ARCHIVE_OK)
    return MakeError(ErrorCode::kNotFound, "open archive `{}`: {}", path, archive_error_string(a.get()) ?: "error");
  CB_TRY(out.impl_->ReadAll(blobs, a.get()));
  if (out.impl_->entries.count("index.json")) {
    out.format_ = "oci";
    CB_TRY(out.impl_->AddOci(out));
  } else if (out.impl_->entries.count("manifest.json")) {
    out.format_ = "docker";
    CB_TRY(out.impl_->AddDocker(out));
  } else {
    return MakeError(ErrorCode::kInvalidArgument,
                     "archive `{}` is neither an OCI archive (no index.json) nor a docker-archive (no manifest.json)", path);
  }
  return out;
}

}  // namespace cb::image
