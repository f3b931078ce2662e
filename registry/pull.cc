// registry::Pull: manifest → (index → platform manifest) → config → layers, all verified
// before anything is stored.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "image/oci.h"
#include "registry/blob_sources.h"
#include "registry/client.h"
#include "registry/parallel.h"
#include "registry/registry.h"

namespace cb::registry {
namespace {

using nlohmann::json;

bool IsIndexType(const std::string& mt) {
  return mt == image::kMediaTypeIndex || mt == "application/vnd.docker.distribution.manifest.list.v2+json";
}

bool IsSupportedLayer(const std::string& mt) {
  return mt == image::kMediaTypeLayerGzip || mt == image::kMediaTypeLayerZstd || mt == image::kMediaTypeLayer ||
         mt == image::kMediaTypeDockerLayerGzip || mt.empty();
}

/// Refuses JSON that claims to be both an index and a manifest before either parser sees it.
Status CheckShape(const FetchedManifest& m, const std::string& what) {
  json j = json::parse(m.body, nullptr, false);
  if (!j.is_object()) return MakeError(ErrorCode::kCorrupt, "{}: not a JSON object", what);
  if (j.contains("manifests") && (j.contains("layers") || j.contains("config")))
    return MakeError(ErrorCode::kCorrupt, "{}: has both `manifests` and `layers`/`config`: refused", what);
  return Ok();
}

Result<image::Descriptor> ChoosePlatform(const image::Index& idx, const std::string& platform,
                                         const std::string& what) {
  std::string os = platform.substr(0, platform.find('/'));
  std::string rest = platform.substr(platform.find('/') + 1);
  std::string arch = rest.substr(0, rest.find('/'));
  std::string variant = rest.find('/') == std::string::npos ? "" : rest.substr(rest.find('/') + 1);
  std::vector<std::string> offered;
  for (const auto& d : idx.manifests) {
    if (!d.platform) continue;
    const auto& p = *d.platform;
    offered.push_back(p.os + "/" + p.architecture + (p.variant.empty() ? "" : "/" + p.variant));
    if (p.os == os && p.architecture == arch && (variant.empty() || p.variant == variant)) return d;
  }
  std::string list;
  for (const auto& o : offered) list += (list.empty() ? "" : ", ") + o;
  return MakeError(ErrorCode::kNotFound, "{}: no image for {} (the index has: {})", what, platform,
                   list.empty() ? "no platforms" : list);
}

/// Connects to the first endpoint that answers for the reference (mirrors first for docker.io).
Result<std::unique_ptr<Client>> Connect(const image::Reference& ref, const RegistryOptions& opts,
                                        FetchedManifest& top) {
  auto config = CB_TRY(DockerConfig::Load(opts.docker_config.empty() ? DockerConfig::DefaultPath() : opts.docker_config));
  auto endpoints = CB_TRY(EndpointsFor(ref.domain, opts));
  std::string tag_or_digest = ref.digest.empty() ? ref.tag : ref.digest.ToString();
  std::string errors;
  for (const auto& ep : endpoints) {
    auto creds = CB_TRY(config.Lookup(ep.mirror ? ep.host : ep.registry));
    auto c = std::make_unique<Client>(ep, ref.path, opts, creds, false);
    auto st = c->Ping();
    Result<FetchedManifest> m = st ? c->GetManifest(tag_or_digest) : Result<FetchedManifest>(std::move(st).error());
    if (m) {
      top = std::move(m).value();
      return c;
    }
    if (!ep.mirror) return std::move(m).error();
    errors += fmt::format("mirror {}: {}; ", ep.host, m.error().message);
  }
  return MakeError(ErrorCode::kFailed, "pull {}: {}", ref.String(), errors);
}

/// Downloads one layer into an ingest file, with retries; the writer is committed by the caller.
Result<std::unique_ptr<cache::BlobWriter>> FetchLayer(Client& c, cache::BlobStore& blobs, const image::Descriptor& d,
                                                      const RegistryOptions& opts, TransferProgress& progress) {
  progress.Start(d.digest, d.size);
  for (int attempt = 1;; ++attempt) {
    auto w = CB_TRY(blobs.NewWriter());
    Status st = c.FetchBlob(d.digest, d.size, [&](std::string_view data) -> Status {
      CB_TRY(w->Write(data));
      progress.Advance(d.digest, static_cast<int64_t>(data.size()));
      return Ok();
    });
    if (st) return w;
    if (st.error().code != ErrorCode::kIo || attempt >= opts.attempts) return std::move(st).error();
    progress.Retry(d.digest, st.error().message);
    std::this_thread::sleep_for(std::chrono::milliseconds(250 * attempt * attempt));
  }
}

}  // namespace

Result<image::Image> Pull(const image::Reference& ref, const Stores& stores, const RegistryOptions& opts,
                          TransferProgress& progress) {
  FetchedManifest m;
  auto client = CB_TRY(Connect(ref, opts, m));
  Client& c = *client;
  progress.Note(fmt::format("Pulling {}", ref.String()));
  std::string what = fmt::format("manifest {} of {}", m.digest.ToString(), ref.String());
  CB_TRY(CheckShape(m, what));
  if (IsIndexType(m.media_type) || m.body.find("\"manifests\"") != std::string::npos) {
    image::Index idx = CB_TRY(image::ParseIndex(m.body, what));
    image::Descriptor d = CB_TRY(ChoosePlatform(idx, opts.platform, what));
    if (d.size > opts.max_manifest_bytes)
      return MakeError(ErrorCode::kCorrupt, "{}: the {} manifest is {} bytes: refused", what, opts.platform, d.size);
    m = CB_TRY(c.GetManifest(d.digest.ToString()));
    what = fmt::format("manifest {} of {} ({})", m.digest.ToString(), ref.String(), opts.platform);
    if (static_cast<int64_t>(m.body.size()) != d.size)
      return MakeError(ErrorCode::kCorrupt, "{}: {} bytes but the index says {}", what, m.body.size(), d.size);
    CB_TRY(CheckShape(m, what));
    if (IsIndexType(m.media_type)) return MakeError(ErrorCode::kUnsupported, "{}: an index inside an index", what);
  }
  image::Manifest man = CB_TRY(image::ParseManifest(m.body, what));
  for (const auto& l : man.layers)
    if (!IsSupportedLayer(l.media_type))
      return MakeError(ErrorCode::kUnsupported, "{}: layer {} has unsupported media type `{}`", what,
                       l.digest.ToString(), l.media_type);
  std::string config_json = CB_TRY(c.FetchSmallBlob(man.config.digest, man.config.size));
  image::ImageConfig cfg = CB_TRY(image::ParseConfig(config_json, "config " + man.config.digest.ToString()));
  if (cfg.diff_ids.size() != man.layers.size())
    return MakeError(ErrorCode::kCorrupt, "{}: {} layers but the config lists {} diff_ids", what, man.layers.size(),
                     cfg.diff_ids.size());

  std::vector<image::Descriptor> missing;
  for (const auto& l : man.layers) {
    if (stores.blobs.Has(l.digest)) {
      progress.Finish(l.digest, "Already exists");
    } else if (std::none_of(missing.begin(), missing.end(), [&](const auto& x) { return x.digest == l.digest; })) {
      missing.push_back(l);
    }
  }
  std::vector<std::unique_ptr<cache::BlobWriter>> writers(missing.size());
  CB_TRY(ParallelFor(missing.size(), opts.parallel, [&](size_t i) -> Status {
    writers[i] = CB_TRY(FetchLayer(c, stores.blobs, missing[i], opts, progress));
    return Ok();
  }));
  // Every blob verified: only now does anything enter the store.
  for (size_t i = 0; i < missing.size(); ++i) {
    CB_TRY(writers[i]->Commit(missing[i].digest, missing[i].size));
    progress.Finish(missing[i].digest, "Pull complete");
  }
  CB_TRY(stores.blobs.Put(config_json));
  CB_TRY(stores.blobs.Put(m.body));
  if (ref.digest.empty()) CB_TRY(stores.images.Tag(ref, m.digest));
  for (const auto& l : man.layers) AddBlobSource(stores.meta, l.digest, ref.Name());
  progress.Note(fmt::format("Digest: {}", m.digest.ToString()));
  return stores.images.Get(m.digest);
}

Result<image::Image> ResolveOrPull(const std::string& name, const Stores& stores, TransferProgress* progress) {
  auto img = stores.images.Resolve(name);
  if (img || img.error().code != ErrorCode::kNotFound) return img;
  auto ref = image::ParseReference(name);
  if (!ref) return img;
  auto opts = CB_TRY(RegistryOptions::LoadDefault());
  std::unique_ptr<TransferProgress> terminal;
  if (!progress) {
    terminal = NewTerminalProgress(stderr, ::isatty(2) != 0);
    progress = terminal.get();
  }
  auto pulled = Pull(*ref, stores, opts, *progress);
  if (!pulled) {
    Error e = std::move(pulled).error();
    e.message = fmt::format("image `{}` not found locally, and pulling it failed: {}", name, e.message);
    return e;
  }
  return pulled;
}

}  // namespace cb::registry
