// `cbuild build`: Dockerfile + context → image in the store.
#include <cstdio>
#include <filesystem>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/verbs.h"
#include "common/fs.h"
#include "executor/builder.h"
#include "executor/host_mount.h"
#include "parser/parser.h"

namespace cb::cli {
namespace {

Result<std::string> ReadDockerfile(const BuildOptions& o, std::string& name) {
  if (o.file == "-") {
    name = "Dockerfile";
    std::string text;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) text.append(buf, n);
    return text;
  }
  std::string path = o.file.empty() ? o.context + "/Dockerfile" : o.file;
  name = std::filesystem::path(path).filename().string();
  auto text = fs::ReadFile(path);
  if (!text) return MakeError(text.error().code, "read Dockerfile: {}", text.error().message);
  return text;
}

Status WriteMetadata(const std::string& path, const executor::BuildResult& r, const BuildOptions& o) {
  nlohmann::json j;
  if (!o.tags.empty()) j["image.name"] = o.tags.front();
  j["containerimage.digest"] = r.image.manifest_digest.ToString();
  j["containerimage.config.digest"] = r.image.config_digest.ToString();
  j["steps"] = nlohmann::json::array();
  for (const auto& s : r.steps) {
    nlohmann::json e = {{"n", s.n}, {"instruction", s.instruction}, {"cached", s.cached},
                        {"cache_key", s.cache_key.ToString()}, {"seconds", s.seconds}};
    if (!s.miss_reason.empty()) e["miss_reason"] = s.miss_reason;
    j["steps"].push_back(e);
  }
  return fs::WriteFileAtomic(path, j.dump(2) + "\n");
}

}  // namespace

int Build(const GlobalOptions& g, const BuildOptions& o) {
  std::string df_name;
  auto text = ReadDockerfile(o, df_name);
  if (!text) return Fail(text.error());
  if (auto ns = executor::EnterPrivateMountNamespace(); !ns)
    return Fail(fmt::format("build needs root (mount namespaces, overlayfs): {}", ns.error().message));
  auto store = OpenStore(g);
  if (!store) return 1;
  auto sandbox = executor::NewLinuxSandbox();
  auto progress = executor::NewPlainProgress(stderr);
  executor::BuildRequest req;
  req.dockerfile_name = df_name;
  req.dockerfile_text = *text;
  req.context_dir = o.context;
  req.tags = o.tags;
  req.target = o.target;
  req.no_cache = o.no_cache;
  auto result = executor::Build(*store, *sandbox, *progress, req);
  if (!result) {
    const Error& e = result.error();
    if (e.where && e.where->file == df_name) {
      fmt::print(stderr, "{}", parser::FormatError(e, *text));
      return 1;
    }
    return Fail(e);
  }
  progress->Note(fmt::format("writing image {} done", result->image.manifest_digest.ToString()));
  for (const auto& t : o.tags) progress->Note(fmt::format("naming to {} done", t));
  if (!o.metadata_file.empty()) {
    if (auto st = WriteMetadata(o.metadata_file, *result, o); !st) return Fail(st.error());
  }
  fmt::print("{}\n", result->image.manifest_digest.ToString());
  return 0;
}

}  // namespace cb::cli
