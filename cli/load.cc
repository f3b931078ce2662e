// `cbuild load`: images from an OCI archive or a docker-archive into the store.
#include <fmt/core.h>

#include "cli/common.h"
#include "cli/verbs.h"
#include "image/archive_reader.h"

namespace cb::cli {

int Load(const GlobalOptions& g, const std::string& input, bool quiet) {
  auto store = OpenStore(g);
  if (!store) return 1;
  auto staged = image::ReadArchive(store->blobs(), input);
  if (!staged) return Fail(MakeError(staged.error().code, "load: {}", staged.error().message));
  auto added = staged->Commit(store->blobs());
  if (!added) return Fail(added.error());
  // Unpacking checks every layer's diff_id; a bad layer undoes the blobs this load added.
  for (const auto& ai : staged->images()) {
    if (auto st = store->EnsureSnapshots(ai.image); !st) {
      for (const auto& d : *added) (void)store->blobs().Remove(d);
      return Fail(MakeError(st.error().code, "load: image {}: {}", ai.image.manifest_digest.ToString(),
                            st.error().message));
    }
  }
  for (const auto& ai : staged->images()) {
    for (const auto& n : ai.names) {
      if (auto st = store->images().Tag(n, ai.image.manifest_digest); !st) return Fail(st.error());
      if (!quiet) fmt::print("Loaded image: {}\n", n.Familiar());
    }
    if (ai.names.empty() && !quiet) fmt::print("Loaded image ID: {}\n", ai.image.manifest_digest.ToString());
  }
  return 0;
}

}  // namespace cb::cli
