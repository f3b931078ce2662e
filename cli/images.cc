// `cbuild images`, `inspect`, `tag`, `rmi`, `import`: looking at and naming stored images.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/verbs.h"

namespace cb::cli {
namespace {

int64_t LayersSize(const image::Image& img) {
  int64_t n = 0;
  for (const auto& l : img.manifest.layers) n += l.size;
  return n;
}

std::string HumanSize(int64_t n) {
  if (n < 1000) return fmt::format("{}B", n);
  if (n < 1000 * 1000) return fmt::format("{:.1f}kB", n / 1e3);
  if (n < 1000LL * 1000 * 1000) return fmt::format("{:.1f}MB", n / 1e6);
  return fmt::format("{:.2f}GB", n / 1e9);
}

}  // namespace

int Images(const GlobalOptions& g, const std::string& format) {
  auto store = OpenStore(g);
  if (!store) return 1;
  auto list = store->images().List();
  if (!list) return Fail(list.error());
  nlohmann::json arr = nlohmann::json::array();
  if (format == "table") fmt::print("{:<40} {:<16} {:<14} {}\n", "REPOSITORY", "TAG", "IMAGE ID", "SIZE");
  for (const auto& t : *list) {
    auto img = store->images().Get(t.manifest_digest);
    int64_t size = img ? LayersSize(*img) : 0;
    std::string tag = t.ref.digest.empty() ? t.ref.tag : "<none>";
    if (format == "table") {
      fmt::print("{:<40} {:<16} {:<14} {}\n", t.ref.FamiliarName(), tag, t.manifest_digest.Short(), HumanSize(size));
    } else {
      arr.push_back({{"Repository", t.ref.FamiliarName()}, {"Tag", tag}, {"Name", t.ref.String()},
                     {"ID", t.manifest_digest.ToString()}, {"Size", size}});
    }
  }
  if (format == "json") fmt::print("{}\n", arr.dump(2));
  return 0;
}

int Inspect(const GlobalOptions& g, const std::vector<std::string>& names) {
  auto store = OpenStore(g);
  if (!store) return 1;
  auto tags = store->images().List();
  if (!tags) return Fail(tags.error());
  nlohmann::json out = nlohmann::json::array();
  int rc = 0;
  for (const auto& name : names) {
    auto img = store->images().Resolve(name);
    if (!img) {
      rc = Fail(img.error());
      continue;
    }
    nlohmann::json j;
    j["Id"] = img->manifest_digest.ToString();
    j["ManifestDigest"] = img->manifest_digest.ToString();
    j["ConfigDigest"] = img->config_digest.ToString();
    j["RepoTags"] = nlohmann::json::array();
    for (const auto& t : *tags)
      if (t.manifest_digest == img->manifest_digest) j["RepoTags"].push_back(t.ref.Familiar());
    j["Manifest"] = nlohmann::json::parse(image::ToJson(img->manifest));
    j["Config"] = nlohmann::json::parse(image::ToJson(img->config));
    j["Layers"] = nlohmann::json::array();
    for (size_t i = 0; i < img->manifest.layers.size(); ++i) {
      const auto& l = img->manifest.layers[i];
      j["Layers"].push_back({{"digest", l.digest.ToString()}, {"size", l.size}, {"mediaType", l.media_type},
                             {"diff_id", i < img->config.diff_ids.size() ? img->config.diff_ids[i].ToString() : ""}});
    }
    j["Size"] = LayersSize(*img);
    out.push_back(j);
  }
  fmt::print("{}\n", out.dump(2));
  return rc;
}

int Tag(const GlobalOptions& g, const std::string& source, const std::string& target) {
  auto store = OpenStore(g);
  if (!store) return 1;
  auto img = store->images().Resolve(source);
  if (!img) return Fail(img.error());
  auto ref = image::ParseReference(target);
  if (!ref) return Fail(ref.error());
  if (auto st = store->images().Tag(*ref, img->manifest_digest); !st) return Fail(st.error());
  return 0;
}

int Rmi(const GlobalOptions& g, const std::vector<std::string>& names) {
  auto store = OpenStore(g);
  if (!store) return 1;
  int rc = 0;
  for (const auto& name : names) {
    auto ref = image::ParseReference(name);
    auto removed = ref ? store->images().Untag(*ref) : Result<bool>(false);
    if (!removed) {
      rc = Fail(removed.error());
    } else if (!*removed) {
      rc = Fail(fmt::format("image `{}` not found", name));
    } else {
      fmt::print("Untagged: {}\n", ref->Familiar());
    }
  }
  return rc;
}

int Import(const GlobalOptions& g, const std::string& tarball, const std::string& name) {
  auto ref = image::ParseReference(name);
  if (!ref) return Fail(ref.error());
  auto store = OpenStore(g);
  if (!store) return 1;
  auto img = store->ImportRootfs(tarball);
  if (!img) return Fail(img.error());
  if (auto st = store->images().Tag(*ref, img->manifest_digest); !st) return Fail(st.error());
  fmt::print("{}\n", img->manifest_digest.ToString());
  return 0;
}

void AddImageVerbs(CLI::App& app, const GlobalOptions& g, int& rc) {
  static std::string images_format = "table", tag_src, tag_dst, import_tar, import_name;
  static std::vector<std::string> inspect_names, rmi_names;
  auto* images = app.add_subcommand("images", "List images");
  images->add_option("--format", images_format, "table|json")->check(CLI::IsMember({"table", "json"}));
  images->callback([&] { rc = Images(g, images_format); });
  auto* inspect = app.add_subcommand("inspect", "Show an image's manifest, config and layers as JSON");
  inspect->add_option("image", inspect_names, "Images")->required();
  inspect->callback([&] { rc = Inspect(g, inspect_names); });
  auto* tag = app.add_subcommand("tag", "Give an image another name");
  tag->add_option("source", tag_src)->required();
  tag->add_option("target", tag_dst)->required();
  tag->callback([&] { rc = Tag(g, tag_src, tag_dst); });
  auto* rmi = app.add_subcommand("rmi", "Remove image names");
  rmi->add_option("image", rmi_names)->required();
  rmi->callback([&] { rc = Rmi(g, rmi_names); });
  auto* imp = app.add_subcommand("import", "Store a root filesystem tarball as a one-layer image");
  imp->add_option("tarball", import_tar, "ROOTFS.tar (plain or compressed)")->required();
  imp->add_option("name", import_name, "NAME[:TAG]")->required();
  imp->callback([&] { rc = Import(g, import_tar, import_name); });
}

}  // namespace cb::cli
