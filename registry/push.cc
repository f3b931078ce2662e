// registry::Push (blobs first, manifest last) and registry::Login.
#include <set>

#include "registry/blob_sources.h"
#include "registry/client.h"
#include "registry/parallel.h"
#include "registry/registry.h"

namespace cb::registry {
namespace {

Result<Credentials> CredentialsFor(const RegistryOptions& opts, const std::string& registry, std::optional<Credentials>& out) {
  auto config = CB_TRY(DockerConfig::Load(opts.docker_config.empty() ? DockerConfig::DefaultPath() : opts.docker_config));
  out = CB_TRY(config.Lookup(registry));
  return out ? *out : Credentials{};
}

/// Other repositories of the same registry that hold `d`, by path.
std::vector<std::string> MountCandidates(cache::MetadataStore& meta, const Digest& d, const image::Reference& dest) {
  std::vector<std::string> out;
  for (const auto& src : BlobSources(meta, d)) {
    std::string prefix = dest.domain + "/";
    if (src.rfind(prefix, 0) != 0) continue;
    std::string path = src.substr(prefix.size());
    if (path != dest.path) out.push_back(path);
  }
  return out;
}

Status PushBlob(Client& c, const image::Descriptor& d, const std::vector<std::string>& mounts, const Stores& stores,
                const RegistryOptions& opts, TransferProgress& progress) {
  if (CB_TRY(c.HasBlob(d.digest))) {
    progress.Finish(d.digest, "Layer already exists");
    return Ok();
  }
  for (const auto& from : mounts) {
    if (CB_TRY(c.MountBlob(d.digest, from))) {
      progress.Finish(d.digest, "Mounted from " + from);
      return Ok();
    }
  }
  UniqueFd fd = CB_TRY(stores.blobs.Open(d.digest));
  int64_t size = CB_TRY(stores.blobs.Size(d.digest));
  if (size != d.size)
    return MakeError(ErrorCode::kCorrupt, "blob {}: {} bytes in the store but the manifest says {}", d.digest.ToString(),
                     size, d.size);
  progress.Start(d.digest, size);
  for (int attempt = 1;; ++attempt) {
    Status st = c.UploadBlob(d.digest, fd.get(), size, [&](int64_t n) { progress.Advance(d.digest, n); });
    if (st) break;
    if (st.error().code != ErrorCode::kIo || attempt >= opts.attempts) return st;
    progress.Retry(d.digest, st.error().message);
  }
  progress.Finish(d.digest, "Pushed");
  return Ok();
}

}  // namespace

Result<Digest> Push(const image::Image& local, const image::Reference& dest, const Stores& stores,
                    const RegistryOptions& opts, TransferProgress& progress) {
  auto endpoints = CB_TRY(EndpointsFor(dest.domain, opts));
  const Endpoint& ep = endpoints.back();  // never push to a mirror
  std::optional<Credentials> creds;
  CB_TRY(CredentialsFor(opts, dest.domain, creds));
  std::vector<image::Descriptor> blobs = local.manifest.layers;
  blobs.push_back(local.manifest.config);
  std::vector<std::vector<std::string>> mounts;
  std::set<std::string> all_mounts;
  for (const auto& b : blobs) {
    mounts.push_back(MountCandidates(stores.meta, b.digest, dest));
    all_mounts.insert(mounts.back().begin(), mounts.back().end());
  }
  Client c(ep, dest.path, opts, creds, true, {all_mounts.begin(), all_mounts.end()});
  CB_TRY(c.Ping());
  progress.Note(fmt::format("Pushing {}", dest.String()));
  CB_TRY(ParallelFor(blobs.size(), opts.parallel, [&](size_t i) {
    return PushBlob(c, blobs[i], mounts[i], stores, opts, progress);
  }));
  // Last: the manifest, so the tag never names an image whose blobs are not all there.
  std::string body = CB_TRY(stores.blobs.Get(local.manifest_digest));
  std::string reference = dest.digest.empty() ? dest.tag : local.manifest_digest.ToString();
  if (!dest.digest.empty() && dest.digest != local.manifest_digest)
    return MakeError(ErrorCode::kInvalidArgument, "push {}: the local image is {}", dest.String(),
                     local.manifest_digest.ToString());
  CB_TRY(c.PutManifest(reference, body, local.manifest.media_type));
  for (const auto& b : blobs) AddBlobSource(stores.meta, b.digest, dest.Name());
  progress.Note(fmt::format("{}: digest: {} size: {}", reference, local.manifest_digest.ToString(), body.size()));
  return local.manifest_digest;
}

Status Login(const std::string& registry, const std::string& username, const std::string& password,
             const RegistryOptions& opts) {
  std::string domain = registry;
  if (auto p = domain.find("://"); p != std::string::npos) domain = domain.substr(p + 3);
  while (!domain.empty() && domain.back() == '/') domain.pop_back();
  if (domain.empty() || domain == "index.docker.io" || domain == "registry-1.docker.io" ||
      domain == "index.docker.io/v1")
    domain = "docker.io";
  if (domain.find('/') != std::string::npos)
    return MakeError(ErrorCode::kInvalidArgument, "login: `{}` is not a registry host", registry);
  auto config = CB_TRY(DockerConfig::Load(opts.docker_config.empty() ? DockerConfig::DefaultPath() : opts.docker_config));
  auto endpoints = CB_TRY(EndpointsFor(domain, opts));
  Credentials creds{username, password, {}};
  // A pull-scoped token for a probe repository proves the credentials without touching anything.
  Client c(endpoints.back(), "library/cbuild-login-check", opts, creds, false);
  CB_TRY_CTX(c.Ping(), "login to {}", domain);
  CB_TRY_CTX(c.CheckAccess(), "login to {}", domain);
  CB_TRY(config.Save(domain, creds));
  return Ok();
}

}  // namespace cb::registry
