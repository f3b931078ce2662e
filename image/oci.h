// OCI image-spec types (descriptor, manifest, index, image config) and their JSON forms.
// JSON output is canonical (keys sorted, no whitespace) so equal values give equal digests.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/result.h"

namespace cb::image {

inline constexpr const char* kMediaTypeManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kMediaTypeIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kMediaTypeConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* kMediaTypeLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr const char* kMediaTypeLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr const char* kMediaTypeLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr const char* kMediaTypeDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* kMediaTypeDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr const char* kMediaTypeDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";

struct Platform {
  std::string architecture = "amd64";
  std::string os = "linux";
  std::string variant;
};

struct Descriptor {
  std::string media_type;
  Digest digest;
  int64_t size = 0;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;
};

struct Manifest {
  std::string media_type = kMediaTypeManifest;
  Descriptor config;
  std::vector<Descriptor> layers;
  std::map<std::string, std::string> annotations;
};

struct Index {
  std::vector<Descriptor> manifests;
};

struct HistoryEntry {
  std::string created;  ///< RFC 3339; empty = omitted
  std::string created_by;
  std::string comment;
  bool empty_layer = false;
};

/// HEALTHCHECK as Docker stores it (durations in nanoseconds; 0 = default).
struct HealthConfig {
  std::vector<std::string> test;  ///< ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"]
  int64_t interval = 0, timeout = 0, start_period = 0, start_interval = 0;
  int retries = 0;
};

/// The container defaults of an image ("config" in the OCI config JSON).
struct ContainerConfig {
  std::string user;
  std::vector<std::string> env;  ///< "K=V", in order
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> cmd;
  std::string working_dir;
  std::map<std::string, std::string> labels;
  std::vector<std::string> exposed_ports;
  std::vector<std::string> volumes;
  std::string stop_signal;
  std::optional<std::vector<std::string>> shell;
  std::vector<std::string> on_build;
  std::optional<HealthConfig> healthcheck;
};

struct ImageConfig {
  std::string created;  ///< RFC 3339; empty = omitted (reproducible by default)
  std::string author;
  Platform platform;
  ContainerConfig config;
  std::vector<Digest> diff_ids;
  std::vector<HistoryEntry> history;

  /// Value of K in config.env, if set.
  std::optional<std::string> GetEnv(const std::string& key) const;
  /// Sets or replaces K in config.env, keeping its position.
  void SetEnv(const std::string& key, const std::string& value);
};

std::string ToJson(const Manifest& m);
std::string ToJson(const Index& i);
std::string ToJson(const ImageConfig& c);
/// Pretty JSON of any of the above, for `inspect`.
std::string PrettyJson(const std::string& canonical_json);

/// Parse OCI or Docker schema2 JSON. Errors name `what` (e.g. the blob digest).
Result<Manifest> ParseManifest(const std::string& json, const std::string& what);
Result<Index> ParseIndex(const std::string& json, const std::string& what);
Result<ImageConfig> ParseConfig(const std::string& json, const std::string& what);

}  // namespace cb::image
