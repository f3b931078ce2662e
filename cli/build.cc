// `cbuild build`: Dockerfile + context → image in the store.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <filesystem>

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/cli_options.h"
#include "cli/common.h"
#include "cli/verbs.h"
#include "common/cancel.h"
#include "common/fs.h"
#include "common/key_value.h"
#include "executor/builder.h"
#include "executor/export.h"
#include "sandbox/host_mount.h"
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

/// --build-arg K=V (or K: the caller's environment value, skipped when unset).
std::map<std::string, std::string> BuildArgs(const std::vector<std::string>& in) {
  std::map<std::string, std::string> out;
  for (const auto& a : in) {
    auto [name, value] = SplitKeyValue(a);
    if (value) {
      out[name] = *value;
    } else if (const char* v = std::getenv(name.c_str())) {
      out[name] = v;
    }
  }
  return out;
}

/// --secret id=ID,src=PATH | id=ID,env=VAR → id → file path (env secrets go to a temp file).
Result<std::map<std::string, std::string>> Secrets(const std::vector<std::string>& in, std::vector<std::string>& temps) {
  std::map<std::string, std::string> out;
  for (const auto& s : in) {
    std::string id, src, env;
    for (const auto& [k, value] : SplitFields(s)) {
      std::string v = value.value_or("");
      if (k == "id") id = v;
      else if (k == "src" || k == "source") src = v;
      else if (k == "env") env = v;
      else if (k != "type") return MakeError(ErrorCode::kInvalidArgument, "--secret `{}`: unknown field `{}`", s, k);
    }
    if (id.empty()) return MakeError(ErrorCode::kInvalidArgument, "--secret `{}`: id is required", s);
    if (src.empty() && env.empty()) env = id;
    if (src.empty()) {
      const char* v = std::getenv(env.c_str());
      if (!v) return MakeError(ErrorCode::kInvalidArgument, "--secret `{}`: environment variable {} is not set", s, env);
      std::string path = fmt::format("/tmp/cbuild-secret-{}-{}", ::getpid(), temps.size());
      CB_TRY(fs::WriteFileAtomic(path, v, 0600));
      temps.push_back(path);
      src = path;
    }
    if (!fs::Exists(src)) return MakeError(ErrorCode::kNotFound, "--secret `{}`: `{}` not found", s, src);
    out[id] = std::filesystem::absolute(src).string();
  }
  return out;
}

}  // namespace

int Build(const GlobalOptions& g, const BuildOptions& o) {
  // Made first, so that every error after the flags parsed reaches the user through it
  // (json: as an "error" event, never as loose text in the event stream).
  auto progress = progress::NewProgress(o.quiet ? "quiet" : progress::ResolveProgressMode(o.progress, STDERR_FILENO));
  auto fail = [&](const Error& e) {
    progress->BuildFailed(e, fmt::format("cbuild: {}\n", e.ToString()));
    return 1;
  };
  std::string df_name;
  auto text = ReadDockerfile(o, df_name);
  if (!text) return fail(text.error());
  std::optional<executor::OutputSpec> output;  // --output: checked before anything runs
  if (!o.output.empty()) {
    auto spec = executor::ParseOutputSpec(o.output);
    if (!spec) return fail(spec.error()) + 1;
    output = *spec;
  }
  if (auto ns = sandbox::EnterPrivateMountNamespace(); !ns)
    return fail(MakeError(ns.error().code, "build needs root (mount namespaces, overlayfs): {}", ns.error().message));
  if (auto st = cancel::InstallSignalHandlers(); !st) return fail(st.error());  // common/cancel.h
  spdlog::debug("store `{}`", g.root);
  auto store = store::Store::Open(g.root);
  if (!store) return fail(MakeError(store.error().code, "open store `{}`: {}", g.root, store.error().ToString()));
  CleanStale(**store);
  auto sandbox = sandbox::NewLinuxSandbox();
  executor::BuildRequest req;
  req.dockerfile_name = df_name;
  if (o.file != "-") req.dockerfile_path = o.file.empty() ? o.context + "/Dockerfile" : o.file;
  req.dockerfile_text = *text;
  req.context_dir = std::filesystem::absolute(o.context).lexically_normal().string();
  req.tags = o.tags;
  req.target = o.target;
  req.no_cache = o.no_cache;
  req.build_args = BuildArgs(o.build_args);
  req.platform = o.platform;
  req.network = o.network;
  if (o.platform != "linux/amd64")
    return fail(MakeError(ErrorCode::kUnsupported, "--platform {}: only linux/amd64 can be built here", o.platform));
  std::vector<std::string> temps;
  auto secrets = Secrets(o.secrets, temps);
  if (!secrets) return fail(secrets.error());
  req.secrets = *secrets;
  auto result = executor::Build(**store, *sandbox, *progress, req);
  for (const auto& p : temps) ::unlink(p.c_str());
  if (cancel::Requested()) {  // the steps were stopped: 130 for SIGINT, 143 for SIGTERM
    fail(cancel::Check().error());
    return cancel::ExitCode();
  }
  if (!result) {
    const Error& e = result.error();
    if (e.where && e.where->file == df_name) {
      progress->BuildFailed(e, parser::FormatError(e, *text));
      return 1;
    }
    return fail(e);
  }
  if (spdlog::should_log(spdlog::level::warn))  // --log-level error hides them
    for (const auto& w : result->warnings) progress->Note("WARNING: " + w);
  progress->Note(fmt::format("writing image {} done", result->image.manifest_digest.ToString()));
  for (const auto& t : o.tags) progress->Note(fmt::format("naming to {} done", t));
  if (!o.metadata_file.empty()) {
    if (auto st = WriteMetadata(o.metadata_file, *result, o); !st) return fail(st.error());
  }
  progress->Finish();  // the live view ends before a push's transfer progress or stdout
  if (o.push) {  // --push: every -t name goes to its registry (cli/registry.cc)
    if (int rc = PushImages(g, o.tags); rc != 0) return rc;
  }
  if (output) {
    if (auto st = executor::ExportBuildOutput(**store, result->image, *output, o.tags); !st) return fail(st.error());
    progress->Note(fmt::format("exporting to {} {} done", executor::FormatOutputType(output->type), output->dest));
  }
  if (!output || output->dest != "-") fmt::print("{}\n", result->image.manifest_digest.ToString());
  return 0;
}

void AddBuildVerb(CLI::App& app, const GlobalOptions& g, int& rc) {
  static BuildOptions b;
  auto* build = app.add_subcommand("build", "Build an image from a Dockerfile and a context directory");
  build->add_option("-f,--file", b.file, "Dockerfile (default CONTEXT/Dockerfile; - for stdin)");
  build->add_option("-t,--tag", b.tags, "Name the image NAME[:TAG] (repeatable)")->allow_extra_args(false);
  build->add_option("--target", b.target, "Build this stage");
  build->add_flag("--no-cache", b.no_cache, "Run every step, ignoring the cache");
  build->add_flag("-q,--quiet", b.quiet, "Print nothing but the image digest (and the error, if the build fails)");
  build->add_option("--progress", b.progress,
                    "auto|plain|tty|json: tty is a live view (the default when stderr is a terminal), plain one "
                    "line per event (the default elsewhere), json one event object per line; all on stderr")
      ->check(CLI::IsMember({"auto", "plain", "tty", "json"}));
  build->add_option("--metadata-file", b.metadata_file, "Write build results (digests, steps) as JSON");
  build->add_option("-o,--output", b.output,
                    "type=oci|docker|local|tar|image,dest=PATH[,compression=gzip|zstd|none][,name=NAME]; "
                    "a bare PATH means type=local (see docs/formats.md)");
  build->add_option("--build-arg", b.build_args, "Set a build-time variable K=V (repeatable)")->allow_extra_args(false);
  build->add_option("--secret", b.secrets, "Expose a secret to RUN --mount=type=secret: id=ID,src=PATH or id=ID,env=VAR")
      ->allow_extra_args(false);
  build->add_option("--platform", b.platform, "Target platform (only linux/amd64)");
  AddNetworkOption(build, b.network, false, "default|none|host: network of RUN steps without their own --network");
  build->add_flag("--push", b.push, "Push every -t name to its registry after the build");
  build->add_option("context", b.context, "Build context directory")->required();
  build->callback([&] { rc = Build(g, b); });
}

}  // namespace cb::cli
