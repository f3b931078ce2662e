// `cbuild save`: an image as an OCI archive or a docker-archive; registers `save` and `load`.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "cli/common.h"
#include "cli/verbs.h"
#include "executor/export.h"

namespace cb::cli {

int Load(const GlobalOptions& g, const std::string& input, bool quiet);

namespace {

int Save(const GlobalOptions& g, const std::vector<std::string>& images, const std::string& output,
         const std::string& format, const std::string& compression) {
  executor::OutputSpec spec;
  auto type = executor::ParseOutputType(format);
  if (!type) return Fail(type.error()) + 1;
  spec.type = *type;
  spec.dest = output;
  if (!compression.empty()) {
    auto c = executor::ParseCompression(compression);
    if (!c) return Fail(c.error()) + 1;
    spec.compression = *c;
  }
  if (images.size() != 1) return Fail("save: exactly one image (several images in one archive are not supported yet)") + 1;
  auto store = OpenStore(g);
  if (!store) return 1;
  const std::string& name = images.front();
  auto img = store->images().Resolve(name);
  if (!img) return Fail(img.error());
  std::vector<image::Reference> names;
  if (auto ref = image::ParseReference(name); ref && name.rfind("sha256:", 0) != 0) {
    if (auto tagged = store->meta().GetTag(ref->String()); tagged && *tagged) names.push_back(*ref);
  }
  if (auto st = executor::ExportImage(*store, *img, spec, names); !st) return Fail(st.error());
  return 0;
}

}  // namespace

void AddArchiveVerbs(CLI::App& app, const GlobalOptions& g, int& rc) {
  static std::vector<std::string> images;
  static std::string out, format = "oci", compression, input;
  static bool quiet = false;
  auto* save = app.add_subcommand("save", "Write an image to an archive: OCI image layout in a tar, or docker-archive");
  save->add_option("image", images, "Image name, id or digest")->required();
  save->add_option("-o,--output", out, "Archive file (- for stdout)")->required();
  save->add_option("--format", format, "oci (default: OCI image layout, gzip layers) or docker (docker load's format, "
                                       "plain layers)")
      ->check(CLI::IsMember({"oci", "docker"}));
  save->add_option("--compression", compression,
                   "gzip|zstd|none: recompress every layer to this (default: oci gzip, docker none; layers "
                   "already compressed keep their blobs). gzip and zstd use every core; the bytes do not "
                   "depend on the number of cores")
      ->check(CLI::IsMember({"gzip", "zstd", "none"}));
  save->callback([&] { rc = Save(g, images, out, format, compression); });

  auto* load = app.add_subcommand("load", "Load images from an OCI archive or a docker-archive (format detected)");
  load->add_option("-i,--input", input, "Archive file (- or absent: stdin)");
  load->add_flag("-q,--quiet", quiet, "Print nothing on success");
  load->footer("Every blob is checked against its digest and size and every layer against the config's diff_ids "
               "before anything is named; on error nothing is stored. Names come from the archive "
               "(docker: RepoTags; OCI: io.containerd.image.name or a full org.opencontainers.image.ref.name).");
  load->callback([&] { rc = Load(g, input.empty() ? "-" : input, quiet); });
}

}  // namespace cb::cli
