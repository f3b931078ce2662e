#include "image/oci.h"

#include <nlohmann/json.hpp>

#include "common/env_list.h"

namespace cb::image {
namespace {

using nlohmann::json;

json DescriptorJson(const Descriptor& d) {
  json j = {{"mediaType", d.media_type}, {"digest", d.digest.ToString()}, {"size", d.size}};
  if (!d.annotations.empty()) j["annotations"] = d.annotations;
  if (d.platform) {
    json p = {{"architecture", d.platform->architecture}, {"os", d.platform->os}};
    if (!d.platform->variant.empty()) p["variant"] = d.platform->variant;
    j["platform"] = p;
  }
  return j;
}

json StringSet(const std::vector<std::string>& keys) {
  json j = json::object();
  for (const auto& k : keys) j[k] = json::object();
  return j;
}

json ContainerConfigJson(const ContainerConfig& c) {
  json j = json::object();
  if (!c.user.empty()) j["User"] = c.user;
  if (!c.env.empty()) j["Env"] = c.env;
  if (c.entrypoint) j["Entrypoint"] = *c.entrypoint;
  if (c.cmd) j["Cmd"] = *c.cmd;
  if (!c.working_dir.empty()) j["WorkingDir"] = c.working_dir;
  if (!c.labels.empty()) j["Labels"] = c.labels;
  if (!c.exposed_ports.empty()) j["ExposedPorts"] = StringSet(c.exposed_ports);
  if (!c.volumes.empty()) j["Volumes"] = StringSet(c.volumes);
  if (!c.stop_signal.empty()) j["StopSignal"] = c.stop_signal;
  if (c.shell) j["Shell"] = *c.shell;
  if (!c.on_build.empty()) j["OnBuild"] = c.on_build;
  if (c.healthcheck) {
    json h = {{"Test", c.healthcheck->test}};
    if (c.healthcheck->interval) h["Interval"] = c.healthcheck->interval;
    if (c.healthcheck->timeout) h["Timeout"] = c.healthcheck->timeout;
    if (c.healthcheck->start_period) h["StartPeriod"] = c.healthcheck->start_period;
    if (c.healthcheck->start_interval) h["StartInterval"] = c.healthcheck->start_interval;
    if (c.healthcheck->retries) h["Retries"] = c.healthcheck->retries;
    j["Healthcheck"] = h;
  }
  return j;
}

/// Runs `fn` and turns nlohmann's type/parse exceptions into a kCorrupt Error naming `what`.
template <typename Fn>
auto Guard(const std::string& what, Fn fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const json::exception& e) {
    return MakeError(ErrorCode::kCorrupt, "{}: invalid JSON: {}", what, e.what());
  }
}

Result<Descriptor> ParseDescriptor(const json& j, const std::string& what) {
  Descriptor d;
  d.media_type = j.value("mediaType", "");
  d.digest = CB_TRY(Digest::Parse(j.at("digest").get<std::string>()));
  d.size = j.at("size").get<int64_t>();
  if (d.size < 0) return MakeError(ErrorCode::kCorrupt, "{}: negative descriptor size", what);
  if (j.contains("annotations")) d.annotations = j["annotations"].get<std::map<std::string, std::string>>();
  if (j.contains("platform")) {
    Platform p;
    p.architecture = j["platform"].value("architecture", "");
    p.os = j["platform"].value("os", "");
    p.variant = j["platform"].value("variant", "");
    d.platform = p;
  }
  return d;
}

std::vector<std::string> Keys(const json& j) {
  std::vector<std::string> out;
  if (j.is_object())
    for (auto it = j.begin(); it != j.end(); ++it) out.push_back(it.key());
  return out;
}

std::optional<std::vector<std::string>> OptStrings(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  return j[key].get<std::vector<std::string>>();
}

ContainerConfig ParseContainerConfig(const json& j) {
  ContainerConfig c;
  if (!j.is_object()) return c;
  c.user = j.value("User", "");
  if (j.contains("Env") && !j["Env"].is_null()) c.env = j["Env"].get<std::vector<std::string>>();
  c.entrypoint = OptStrings(j, "Entrypoint");
  c.cmd = OptStrings(j, "Cmd");
  c.working_dir = j.value("WorkingDir", "");
  if (j.contains("Labels") && j["Labels"].is_object())
    c.labels = j["Labels"].get<std::map<std::string, std::string>>();
  if (j.contains("ExposedPorts")) c.exposed_ports = Keys(j["ExposedPorts"]);
  if (j.contains("Volumes")) c.volumes = Keys(j["Volumes"]);
  c.stop_signal = j.value("StopSignal", "");
  c.shell = OptStrings(j, "Shell");
  if (j.contains("OnBuild") && !j["OnBuild"].is_null()) c.on_build = j["OnBuild"].get<std::vector<std::string>>();
  if (j.contains("Healthcheck") && j["Healthcheck"].is_object()) {
    const json& h = j["Healthcheck"];
    HealthConfig hc;
    if (h.contains("Test") && !h["Test"].is_null()) hc.test = h["Test"].get<std::vector<std::string>>();
    hc.interval = h.value("Interval", int64_t{0});
    hc.timeout = h.value("Timeout", int64_t{0});
    hc.start_period = h.value("StartPeriod", int64_t{0});
    hc.start_interval = h.value("StartInterval", int64_t{0});
    hc.retries = h.value("Retries", 0);
    c.healthcheck = hc;
  }
  return c;
}

}  // namespace

std::optional<std::string> ImageConfig::GetEnv(const std::string& key) const { return env::Get(config.env, key); }

void ImageConfig::SetEnv(const std::string& key, const std::string& value) { env::Set(config.env, key, value); }

std::string ToJson(const Manifest& m) {
  json j = {{"schemaVersion", 2}, {"mediaType", m.media_type}, {"config", DescriptorJson(m.config)}};
  j["layers"] = json::array();
  for (const auto& l : m.layers) j["layers"].push_back(DescriptorJson(l));
  if (!m.annotations.empty()) j["annotations"] = m.annotations;
  return j.dump();
}

std::string ToJson(const Index& i) {
  json j = {{"schemaVersion", 2}, {"mediaType", kMediaTypeIndex}};
  j["manifests"] = json::array();
  for (const auto& d : i.manifests) j["manifests"].push_back(DescriptorJson(d));
  return j.dump();
}

std::string ToJson(const ImageConfig& c) {
  json j = {{"architecture", c.platform.architecture}, {"os", c.platform.os}};
  if (!c.platform.variant.empty()) j["variant"] = c.platform.variant;
  if (!c.created.empty()) j["created"] = c.created;
  if (!c.author.empty()) j["author"] = c.author;
  j["config"] = ContainerConfigJson(c.config);
  json ids = json::array();
  for (const auto& d : c.diff_ids) ids.push_back(d.ToString());
  j["rootfs"] = {{"type", "layers"}, {"diff_ids", ids}};
  json hist = json::array();
  for (const auto& h : c.history) {
    json e = json::object();
    if (!h.created.empty()) e["created"] = h.created;
    if (!h.created_by.empty()) e["created_by"] = h.created_by;
    if (!h.comment.empty()) e["comment"] = h.comment;
    if (h.empty_layer) e["empty_layer"] = true;
    hist.push_back(e);
  }
  j["history"] = hist;
  return j.dump();
}

std::string PrettyJson(const std::string& canonical_json) {
  return json::parse(canonical_json, nullptr, false).dump(2);
}

Result<Manifest> ParseManifest(const std::string& text, const std::string& what) {
  return Guard(what, [&]() -> Result<Manifest> {
    json j = json::parse(text);
    if (j.contains("manifests"))
      return MakeError(ErrorCode::kCorrupt, "{}: expected an image manifest, got an index", what);
    if (j.value("schemaVersion", 0) != 2)
      return MakeError(ErrorCode::kUnsupported, "{}: manifest schemaVersion is not 2", what);
    Manifest m;
    m.media_type = j.value("mediaType", kMediaTypeManifest);
    m.config = CB_TRY_CTX(ParseDescriptor(j.at("config"), what), "{}: config", what);
    for (const auto& l : j.at("layers")) m.layers.push_back(CB_TRY(ParseDescriptor(l, what)));
    if (j.contains("annotations")) m.annotations = j["annotations"].get<std::map<std::string, std::string>>();
    return m;
  });
}

Result<Index> ParseIndex(const std::string& text, const std::string& what) {
  return Guard(what, [&]() -> Result<Index> {
    json j = json::parse(text);
    if (j.contains("layers"))
      return MakeError(ErrorCode::kCorrupt, "{}: an index must not have layers", what);
    Index i;
    for (const auto& d : j.at("manifests")) i.manifests.push_back(CB_TRY(ParseDescriptor(d, what)));
    return i;
  });
}

Result<ImageConfig> ParseConfig(const std::string& text, const std::string& what) {
  return Guard(what, [&]() -> Result<ImageConfig> {
    json j = json::parse(text);
    ImageConfig c;
    c.platform.architecture = j.value("architecture", "");
    c.platform.os = j.value("os", "");
    c.platform.variant = j.value("variant", "");
    c.created = j.value("created", "");
    c.author = j.value("author", "");
    if (j.contains("config")) c.config = ParseContainerConfig(j["config"]);
    for (const auto& d : j.at("rootfs").at("diff_ids"))
      c.diff_ids.push_back(CB_TRY(Digest::Parse(d.get<std::string>())));
    if (j.contains("history")) {
      for (const auto& h : j["history"]) {
        HistoryEntry e;
        e.created = h.value("created", "");
        e.created_by = h.value("created_by", "");
        e.comment = h.value("comment", "");
        e.empty_layer = h.value("empty_layer", false);
        c.history.push_back(e);
      }
    }
    return c;
  });
}

}  // namespace cb::image
