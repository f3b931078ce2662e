// RegistryOptions: how cbuild reaches registries (insecure hosts, docker.io mirrors, CA file,
// concurrency), from flags and the registries config file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace cb::registry {

struct RegistryOptions {
  std::vector<std::string> insecure_registries;  ///< host[:port] that may use plain HTTP
  std::vector<std::string> mirrors;              ///< base URLs tried first for docker.io pulls
  std::string ca_file;                           ///< extra CA bundle (PEM) for HTTPS
  std::string docker_config;                     ///< config.json path; empty = the default one
  std::string platform = "linux/amd64";          ///< chosen from an index
  int parallel = 3;                              ///< concurrent blob transfers
  int attempts = 3;                              ///< tries per blob on transport errors / 5xx
  int64_t chunk_size = 0;                        ///< push: > 0 = chunked PATCH uploads of this size
  int64_t max_manifest_bytes = 4 << 20;          ///< larger manifests and indexes are refused

  /// Path of the config file: $CBUILD_REGISTRIES_CONFIG, else $XDG_CONFIG_HOME/cbuild/registries.json
  /// (~/.config/cbuild/registries.json).
  static std::string DefaultConfigPath();
  /// Defaults merged with `path` (a missing file is fine): {"insecure-registries": [...],
  /// "registry-mirrors": [...], "ca-file": "...", "max-concurrent-downloads": N}.
  static Result<RegistryOptions> Load(const std::string& path);
  /// Load(DefaultConfigPath()).
  static Result<RegistryOptions> LoadDefault() { return Load(DefaultConfigPath()); }
};

/// One place a repository can be reached at.
struct Endpoint {
  std::string registry;    ///< the reference's domain ("docker.io"); names credentials
  std::string host;        ///< host[:port] spoken to ("registry-1.docker.io", a mirror's host)
  std::string scheme;      ///< "https"; "http" only when `plain_http_ok`
  bool plain_http_ok = false;  ///< try HTTPS, fall back to plain HTTP (localhost, insecure list)
  bool mirror = false;
};

/// True for localhost, 127.0.0.0/8, ::1 and hosts in opts.insecure_registries.
bool AllowsPlainHttp(const std::string& host, const RegistryOptions& opts);

/// Endpoints for a reference domain, in the order to try: docker.io's mirrors, then the registry.
Result<std::vector<Endpoint>> EndpointsFor(const std::string& domain, const RegistryOptions& opts);

}  // namespace cb::registry
