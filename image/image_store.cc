#include "image/image_store.h"

namespace cb::image {

Result<Image> ImageStore::Put(const Manifest& manifest_template, const ImageConfig& config) {
  Image img;
  img.config = config;
  std::string config_json = ToJson(config);
  img.config_digest = CB_TRY(blobs_->Put(config_json));
  img.manifest = manifest_template;
  img.manifest.config = Descriptor{kMediaTypeConfig, img.config_digest,
                                   static_cast<int64_t>(config_json.size()), {}, std::nullopt};
  std::string manifest_json = ToJson(img.manifest);
  img.manifest_digest = CB_TRY(blobs_->Put(manifest_json));
  img.manifest_size = static_cast<int64_t>(manifest_json.size());
  return img;
}

Result<Image> ImageStore::Get(const Digest& manifest_digest) const {
  Image img;
  img.manifest_digest = manifest_digest;
  std::string mj = CB_TRY(blobs_->Get(manifest_digest));
  img.manifest_size = static_cast<int64_t>(mj.size());
  img.manifest = CB_TRY(ParseManifest(mj, "manifest " + manifest_digest.ToString()));
  img.config_digest = img.manifest.config.digest;
  std::string cj = CB_TRY(blobs_->Get(img.config_digest));
  img.config = CB_TRY(ParseConfig(cj, "config " + img.config_digest.ToString()));
  return img;
}

Result<Image> ImageStore::Resolve(const std::string& ref) const {
  if (ref.rfind("sha256:", 0) == 0 && ref.size() == 71) return Get(CB_TRY(Digest::Parse(ref)));
  auto parsed = ParseReference(ref);
  if (parsed) {
    if (!parsed->digest.empty()) {
      if (blobs_->Has(parsed->digest)) return Get(parsed->digest);
    } else if (auto d = CB_TRY(meta_->GetTag(parsed->String()))) {
      return Get(*d);
    }
  }
  // An id prefix ("3f2a9c", "sha256:3f2a9c"), matched against tagged images' manifest digests.
  std::string prefix = ref.rfind("sha256:", 0) == 0 ? ref.substr(7) : ref;
  if (prefix.size() >= 4 && prefix.find_first_not_of("0123456789abcdef") == std::string::npos) {
    std::optional<Digest> found;
    for (const auto& [name, d] : CB_TRY(meta_->ListTags())) {
      if (d.Hex().rfind(prefix, 0) != 0) continue;
      if (found && *found != d)
        return MakeError(ErrorCode::kInvalidArgument, "image id prefix `{}` is ambiguous", ref);
      found = d;
    }
    if (found) return Get(*found);
  }
  if (!parsed) return std::move(parsed).error();
  return MakeError(ErrorCode::kNotFound, "image `{}` not found", ref);
}

Status ImageStore::Tag(const Reference& ref, const Digest& manifest_digest) {
  return meta_->SetTag(ref.String(), manifest_digest);
}

Result<bool> ImageStore::Untag(const Reference& ref) { return meta_->DeleteTag(ref.String()); }

Result<std::vector<TaggedImage>> ImageStore::List() const {
  std::vector<TaggedImage> out;
  for (const auto& [name, d] : CB_TRY(meta_->ListTags())) {
    auto ref = ParseReference(name);
    if (ref) out.push_back({*ref, d});
  }
  return out;
}

}  // namespace cb::image
