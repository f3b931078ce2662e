#include "common/network_mode.h"

namespace cb {

std::string_view FormatNetworkMode(NetworkMode m) {
  switch (m) {
    case NetworkMode::kDefault: return "default";
    case NetworkMode::kNone: return "none";
    case NetworkMode::kHost: return "host";
  }
  return "default";
}

std::optional<NetworkMode> ParseNetworkMode(std::string_view s, bool docker_aliases) {
  for (NetworkMode m : {NetworkMode::kDefault, NetworkMode::kNone, NetworkMode::kHost})
    if (s == FormatNetworkMode(m)) return m;
  if (docker_aliases && (s == "bridge" || s == "slirp4netns")) return NetworkMode::kDefault;
  return std::nullopt;
}

}  // namespace cb
