// `cbuild save`: an image as an OCI archive.
#include <fmt/core.h>

#include "cli/common.h"
#include "cli/verbs.h"
#include "image/oci_archive.h"

namespace cb::cli {

int Save(const GlobalOptions& g, const std::string& name, const std::string& output, const std::string& format) {
  if (format != "oci") return Fail(fmt::format("save: format `{}` is not supported", format));
  auto store = OpenStore(g);
  if (!store) return 1;
  auto img = store->images().Resolve(name);
  if (!img) return Fail(img.error());
  std::vector<image::Reference> names;
  if (auto ref = image::ParseReference(name); ref && name.rfind("sha256:", 0) != 0) {
    if (auto tagged = store->meta().GetTag(ref->String()); tagged && *tagged) names.push_back(*ref);
  }
  if (auto st = image::WriteOciArchive(store->blobs(), *img, names, output); !st) return Fail(st.error());
  return 0;
}

}  // namespace cb::cli
