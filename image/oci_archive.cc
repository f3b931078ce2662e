#include "image/oci_archive.h"

#include <set>

#include "image/archive_writer.h"

namespace cb::image {

Status WriteOciArchive(const cache::BlobStore& blobs, const Image& img, const std::vector<Reference>& names,
                       const std::string& path) {
  Index index;
  Descriptor md{kMediaTypeManifest, img.manifest_digest, img.manifest_size, {}, std::nullopt};
  if (!img.manifest.media_type.empty()) md.media_type = img.manifest.media_type;
  if (names.empty()) index.manifests.push_back(md);
  for (const auto& n : names) {
    Descriptor d = md;
    d.annotations["io.containerd.image.name"] = n.String();
    if (!n.tag.empty()) d.annotations["org.opencontainers.image.ref.name"] = n.tag;
    index.manifests.push_back(d);
  }
  auto w = CB_TRY(ArchiveWriter::Create(path));
  CB_TRY(w->File("oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  CB_TRY(w->File("index.json", ToJson(index)));
  CB_TRY(w->Dir("blobs/"));
  CB_TRY(w->Dir("blobs/sha256/"));
  std::set<Digest> done;
  auto blob = [&](const Digest& d) -> Status {
    if (!done.insert(d).second) return Ok();
    return w->Blob(blobs, d, "blobs/sha256/" + d.Hex());
  };
  CB_TRY(blob(img.manifest_digest));
  CB_TRY(blob(img.config_digest));
  for (const auto& l : img.manifest.layers) CB_TRY(blob(l.digest));
  return w->Finish();
}

}  // namespace cb::image
