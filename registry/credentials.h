// Registry credentials: ~/.docker/config.json (auths, credHelpers, credsStore with
// docker-credential-* helpers), the WWW-Authenticate grammar, and where credentials may go.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace cb::registry {

struct Credentials {
  std::string username;
  std::string password;        ///< or a personal access token
  std::string identity_token;  ///< an OAuth refresh token (docker's "identitytoken")
};

/// One challenge of a WWW-Authenticate header: `Bearer realm="...",service="..."`.
struct Challenge {
  std::string scheme;                         ///< lowercase: "bearer", "basic"
  std::map<std::string, std::string> params;  ///< lowercase keys
};

/// Parses a WWW-Authenticate value (one or more challenges, quoted strings with escapes).
std::vector<Challenge> ParseWwwAuthenticate(std::string_view header);

std::string Base64Encode(std::string_view data);
/// kInvalidArgument on characters outside the alphabet.
Result<std::string> Base64Decode(std::string_view data);

/// The key Docker uses for a registry in config.json: "https://index.docker.io/v1/" for
/// docker.io, the host[:port] otherwise.
std::string ConfigKeyFor(const std::string& registry);

/// True if credentials for `registry` (host[:port]) may be sent to `url_host` (a host name
/// without port): the same host, or a host under the same parent domain for DNS names with
/// at least three labels (registry-1.docker.io → auth.docker.io). Never for another IP.
bool MayReceiveCredentials(const std::string& registry, const std::string& url_host);

/// ~/.docker/config.json (or $DOCKER_CONFIG/config.json): reading and writing credentials.
class DockerConfig {
 public:
  /// The file to use: $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json.
  static std::string DefaultPath();
  /// Loads `path`; a missing file is an empty config.
  static Result<DockerConfig> Load(const std::string& path);

  /// Credentials for `registry` (domain as in a reference, "docker.io" for Docker Hub), from a
  /// credential helper (credHelpers, then credsStore) or the auths entry. nullopt = anonymous.
  Result<std::optional<Credentials>> Lookup(const std::string& registry) const;
  /// Stores credentials (through the helper when one is configured) and writes the file.
  Status Save(const std::string& registry, const Credentials& creds);
  /// Removes credentials; false when there were none.
  Result<bool> Erase(const std::string& registry);

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string json_text_ = "{}";  ///< the whole file, kept so unknown keys survive a save
  std::string HelperFor(const std::string& registry) const;
};

/// Runs `docker-credential-<helper> <verb>` with `input` on stdin; returns its stdout.
Result<std::string> RunCredentialHelper(const std::string& helper, const std::string& verb,
                                        const std::string& input);

}  // namespace cb::registry
