#include "image/docker_archive.h"

#include <set>

#include <nlohmann/json.hpp>

#include "image/archive_writer.h"

namespace cb::image {

Status WriteDockerArchive(const cache::BlobStore& blobs, const Image& img, const std::vector<Reference>& names,
                          const std::string& path) {
  if (img.config.diff_ids.size() != img.manifest.layers.size())
    return MakeError(ErrorCode::kCorrupt, "image {}: {} layers but {} diff_ids", img.manifest_digest.ToString(),
                     img.manifest.layers.size(), img.config.diff_ids.size());
  auto w = CB_TRY(ArchiveWriter::Create(path));
  std::string config_name = img.config_digest.Hex() + ".json";
  nlohmann::json entry = {{"Config", config_name}, {"RepoTags", nlohmann::json::array()},
                          {"Layers", nlohmann::json::array()}};
  nlohmann::json repositories = nlohmann::json::object();
  std::set<Digest> done;
  std::string top;
  for (const auto& l : img.manifest.layers) {
    top = l.digest.Hex();
    entry["Layers"].push_back(top + "/layer.tar");
    if (!done.insert(l.digest).second) continue;
    CB_TRY(w->Dir(top + "/"));
    CB_TRY(w->File(top + "/VERSION", "1.0"));
    CB_TRY(w->Blob(blobs, l.digest, top + "/layer.tar"));
  }
  CB_TRY(w->Blob(blobs, img.config_digest, config_name));
  for (const auto& n : names) {
    entry["RepoTags"].push_back(n.Familiar());
    if (!top.empty()) repositories[n.FamiliarName()][n.tag] = top;
  }
  CB_TRY(w->File("manifest.json", nlohmann::json::array({entry}).dump()));
  if (!repositories.empty()) CB_TRY(w->File("repositories", repositories.dump()));
  return w->Finish();
}

}  // namespace cb::image
