#include "registry/credentials.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/unique_fd.h"

namespace cb::registry {
namespace {

using nlohmann::json;

constexpr const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string HostOnly(const std::string& authority) {
  if (!authority.empty() && authority[0] == '[') return authority.substr(0, authority.find(']') + 1);
  return authority.substr(0, authority.find(':'));
}

bool IsIpLiteral(const std::string& host) {
  if (host.empty() || host[0] == '[') return true;
  return host.find_first_not_of("0123456789.") == std::string::npos;
}

Result<json> ParseJson(const std::string& text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    return MakeError(ErrorCode::kCorrupt, "{}: invalid JSON: {}", what, e.what());
  }
}

}  // namespace

std::vector<Challenge> ParseWwwAuthenticate(std::string_view h) {
  std::vector<Challenge> out;
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t' || h[i] == ',')) ++i;
  };
  auto token = [&] {
    size_t b = i;
    while (i < h.size() && h[i] != ' ' && h[i] != '\t' && h[i] != '=' && h[i] != ',') ++i;
    return std::string(h.substr(b, i - b));
  };
  while (true) {
    skip_ws();
    if (i >= h.size()) break;
    std::string word = token();
    if (i < h.size() && h[i] == '=' && !out.empty()) {  // a parameter of the current challenge
      ++i;
      std::string value;
      if (i < h.size() && h[i] == '"') {
        for (++i; i < h.size() && h[i] != '"'; ++i) {
          if (h[i] == '\\' && i + 1 < h.size()) ++i;
          value += h[i];
        }
        ++i;
      } else {
        value = token();
      }
      out.back().params[Lower(word)] = value;
    } else {
      out.push_back({Lower(word), {}});
    }
  }
  return out;
}

std::string Base64Encode(std::string_view in) {
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += {kB64[v >> 18], kB64[(v >> 12) & 63], kB64[(v >> 6) & 63], kB64[v & 63]};
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {kB64[v >> 18], kB64[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {kB64[v >> 18], kB64[(v >> 12) & 63], kB64[(v >> 6) & 63], '='};
  }
  return out;
}

Result<std::string> Base64Decode(std::string_view in) {
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r') continue;
    const char* p = std::strchr(kB64, c);
    if (!p || c == 0) return MakeError(ErrorCode::kInvalidArgument, "invalid base64 character");
    acc = (acc << 6) | static_cast<unsigned>(p - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string ConfigKeyFor(const std::string& registry) {
  if (registry == "docker.io" || registry == "index.docker.io" || registry == "registry-1.docker.io")
    return "https://index.docker.io/v1/";
  return registry;
}

bool MayReceiveCredentials(const std::string& registry, const std::string& url_host) {
  std::string reg = Lower(HostOnly(registry));
  std::string host = Lower(url_host);
  if (reg == host) return true;
  if (IsIpLiteral(reg) || IsIpLiteral(host)) return false;
  size_t dot = reg.find('.');
  if (dot == std::string::npos) return false;
  std::string parent = reg.substr(dot + 1);
  if (parent.find('.') == std::string::npos) return false;  // never share across a TLD
  return host == parent ||
         (host.size() > parent.size() && host.compare(host.size() - parent.size(), parent.size(), parent) == 0 &&
          host[host.size() - parent.size() - 1] == '.');
}

std::string DockerConfig::DefaultPath() {
  if (const char* d = std::getenv("DOCKER_CONFIG"); d && *d) return std::string(d) + "/config.json";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/root") + "/.docker/config.json";
}

Result<DockerConfig> DockerConfig::Load(const std::string& path) {
  DockerConfig c;
  c.path_ = path;
  auto text = fs::ReadFile(path);
  if (!text) {
    if (text.error().code == ErrorCode::kNotFound) return c;
    return std::move(text).error();
  }
  json j = CB_TRY(ParseJson(*text, fmt::format("docker config `{}`", path)));
  if (!j.is_object()) return MakeError(ErrorCode::kCorrupt, "docker config `{}`: not a JSON object", path);
  c.json_text_ = *text;
  return c;
}

std::string DockerConfig::HelperFor(const std::string& registry) const {
  json j = json::parse(json_text_, nullptr, false);
  std::string key = ConfigKeyFor(registry);
  for (const std::string& k : {key, registry}) {
    if (j.contains("credHelpers") && j["credHelpers"].is_object() && j["credHelpers"].contains(k) &&
        j["credHelpers"][k].is_string())
      return j["credHelpers"][k].get<std::string>();
  }
  if (j.contains("credsStore") && j["credsStore"].is_string()) return j["credsStore"].get<std::string>();
  return {};
}

Result<std::optional<Credentials>> DockerConfig::Lookup(const std::string& registry) const {
  std::string key = ConfigKeyFor(registry);
  if (std::string helper = HelperFor(registry); !helper.empty()) {
    auto out = RunCredentialHelper(helper, "get", key);
    if (!out) return std::optional<Credentials>();  // "credentials not found": anonymous
    json j = CB_TRY(ParseJson(*out, fmt::format("docker-credential-{} get", helper)));
    Credentials c;
    c.username = j.value("Username", "");
    if (c.username == "<token>") {
      c.username.clear();
      c.identity_token = j.value("Secret", "");
    } else {
      c.password = j.value("Secret", "");
    }
    return std::optional<Credentials>(c);
  }
  json j = json::parse(json_text_, nullptr, false);
  if (!j.contains("auths") || !j["auths"].is_object()) return std::optional<Credentials>();
  const json& auths = j["auths"];
  std::vector<std::string> keys = {key, registry, "https://" + registry, "http://" + registry,
                                   "https://" + registry + "/v1/", "https://" + registry + "/v2/"};
  for (const auto& k : keys) {
    if (!auths.contains(k) || !auths[k].is_object()) continue;
    const json& a = auths[k];
    Credentials c;
    if (a.contains("auth") && a["auth"].is_string() && !a["auth"].get<std::string>().empty()) {
      std::string raw = CB_TRY_CTX(Base64Decode(a["auth"].get<std::string>()),
                                   "docker config `{}`: auths.{}.auth", path_, k);
      size_t colon = raw.find(':');
      if (colon == std::string::npos)
        return MakeError(ErrorCode::kCorrupt, "docker config `{}`: auths.{}.auth is not user:password", path_, k);
      c.username = raw.substr(0, colon);
      c.password = raw.substr(colon + 1);
    }
    if (a.contains("username") && a["username"].is_string()) c.username = a["username"].get<std::string>();
    if (a.contains("password") && a["password"].is_string()) c.password = a["password"].get<std::string>();
    if (a.contains("identitytoken") && a["identitytoken"].is_string())
      c.identity_token = a["identitytoken"].get<std::string>();
    if (c.username.empty() && c.password.empty() && c.identity_token.empty()) continue;
    return std::optional<Credentials>(c);
  }
  return std::optional<Credentials>();
}

Status DockerConfig::Save(const std::string& registry, const Credentials& creds) {
  json j = json::parse(json_text_, nullptr, false);
  if (!j.is_object()) j = json::object();
  std::string key = ConfigKeyFor(registry);
  if (std::string helper = HelperFor(registry); !helper.empty()) {
    json in = {{"ServerURL", key}, {"Username", creds.username}, {"Secret", creds.password}};
    CB_TRY(RunCredentialHelper(helper, "store", in.dump()));
    if (!j["auths"].is_object()) j["auths"] = json::object();
    j["auths"][key] = json::object();  // docker keeps an empty entry so the registry is listed
  } else {
    if (!j["auths"].is_object()) j["auths"] = json::object();
    j["auths"][key] = {{"auth", Base64Encode(creds.username + ":" + creds.password)}};
  }
  std::string dir = path_.substr(0, path_.rfind('/'));
  CB_TRY(fs::MakeDirs(dir, 0700));
  CB_TRY(fs::WriteFileAtomic(path_, j.dump(1, '\t') + "\n", 0600));
  json_text_ = j.dump();
  return Ok();
}

Result<bool> DockerConfig::Erase(const std::string& registry) {
  json j = json::parse(json_text_, nullptr, false);
  std::string key = ConfigKeyFor(registry);
  bool had = false;
  if (std::string helper = HelperFor(registry); !helper.empty())
    had = RunCredentialHelper(helper, "erase", key).has_value();
  if (j.is_object() && j.contains("auths") && j["auths"].is_object() && j["auths"].contains(key)) {
    j["auths"].erase(key);
    had = true;
    CB_TRY(fs::WriteFileAtomic(path_, j.dump(1, '\t') + "\n", 0600));
    json_text_ = j.dump();
  }
  return had;
}

Result<std::string> RunCredentialHelper(const std::string& helper, const std::string& verb,
                                        const std::string& input) {
  std::string prog = "docker-credential-" + helper;
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
    return ErrnoError(errno, fmt::format("run `{}`: pipe", prog));
  UniqueFd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]);
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoError(errno, fmt::format("run `{}`: fork", prog));
  if (pid == 0) {
    ::dup2(in_r.get(), 0);
    ::dup2(out_w.get(), 1);
    int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) ::dup2(devnull, 2);
    ::execlp(prog.c_str(), prog.c_str(), verb.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  in_r.reset();
  out_w.reset();
  size_t off = 0;
  while (off < input.size()) {
    ssize_t n = ::write(in_w.get(), input.data() + off, input.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  in_w.reset();
  std::string result;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(out_r.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || result.size() > (1 << 20)) break;
    result.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return MakeError(code == 127 ? ErrorCode::kNotFound : ErrorCode::kFailed, "`{} {}` failed (exit {})", prog,
                     verb, code);
  }
  return result;
}

}  // namespace cb::registry
