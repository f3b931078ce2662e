#include "registry/options.h"

#include <algorithm>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "registry/http_client.h"

namespace cb::registry {
namespace {

using nlohmann::json;

std::string HostOnly(const std::string& authority) {
  if (!authority.empty() && authority[0] == '[') return authority.substr(0, authority.find(']') + 1);
  return authority.substr(0, authority.find(':'));
}

std::vector<std::string> Strings(const json& j, const char* key, const std::string& path) {
  std::vector<std::string> out;
  if (!j.contains(key)) return out;
  if (!j[key].is_array()) throw json::type_error::create(302, fmt::format("{}: `{}` must be a list", path, key), nullptr);
  for (const auto& v : j[key]) out.push_back(v.get<std::string>());
  return out;
}

}  // namespace

std::string RegistryOptions::DefaultConfigPath() {
  if (const char* p = std::getenv("CBUILD_REGISTRIES_CONFIG"); p && *p) return p;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return std::string(x) + "/cbuild/registries.json";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/root") + "/.config/cbuild/registries.json";
}

Result<RegistryOptions> RegistryOptions::Load(const std::string& path) {
  RegistryOptions o;
  auto text = fs::ReadFile(path);
  if (!text) {
    if (text.error().code == ErrorCode::kNotFound) return o;
    return std::move(text).error();
  }
  try {
    json j = json::parse(*text);
    o.insecure_registries = Strings(j, "insecure-registries", path);
    o.mirrors = Strings(j, "registry-mirrors", path);
    o.ca_file = j.value("ca-file", "");
    o.parallel = std::clamp(j.value("max-concurrent-downloads", o.parallel), 1, 16);
  } catch (const json::exception& e) {
    return MakeError(ErrorCode::kInvalidArgument, "registries config `{}`: {}", path, e.what());
  }
  return o;
}

bool AllowsPlainHttp(const std::string& host, const RegistryOptions& opts) {
  std::string h = HostOnly(host);
  if (h == "localhost" || h == "[::1]" || h.rfind("127.", 0) == 0) return true;
  for (const auto& r : opts.insecure_registries) {
    std::string r2 = r;
    if (auto p = r2.find("://"); p != std::string::npos) r2 = r2.substr(p + 3);
    while (!r2.empty() && r2.back() == '/') r2.pop_back();
    if (r2 == host || r2 == h) return true;
  }
  return false;
}

Result<std::vector<Endpoint>> EndpointsFor(const std::string& domain, const RegistryOptions& opts) {
  std::vector<Endpoint> out;
  if (domain == "docker.io") {
    for (const auto& m : opts.mirrors) {
      auto u = CB_TRY_CTX(ParseUrl(m), "registry mirror `{}`", m);
      if (u.scheme != "https" && u.scheme != "http")
        return MakeError(ErrorCode::kInvalidArgument, "registry mirror `{}`: scheme must be http or https", m);
      Endpoint e{domain, u.authority, u.scheme, false, true};
      e.plain_http_ok = u.scheme == "http" || AllowsPlainHttp(u.authority, opts);
      out.push_back(e);
    }
    out.push_back({domain, "registry-1.docker.io", "https", false, false});
    return out;
  }
  Endpoint e{domain, domain, "https", AllowsPlainHttp(domain, opts), false};
  out.push_back(e);
  return out;
}

}  // namespace cb::registry
