// The network a process gets: RUN --network, `build --network`, `run --network`, the sandbox.
#pragma once

#include <optional>
#include <string_view>

namespace cb {

/// kDefault: a new network namespace with outbound access through slirp4netns (NAT,
/// 10.0.2.100/24, DNS 10.0.2.3; the host's loopback is not reachable).
/// kNone: a new network namespace with only `lo` up. kHost: the host's network namespace.
enum class NetworkMode { kDefault, kNone, kHost };

/// "default", "none", "host" (the Dockerfile's and the cache key's spelling).
std::string_view FormatNetworkMode(NetworkMode m);

/// "default" | "none" | "host"; nullopt for anything else. `cbuild run` also takes Docker's
/// names of the default network ("bridge", "slirp4netns") when `docker_aliases` is set.
std::optional<NetworkMode> ParseNetworkMode(std::string_view s, bool docker_aliases = false);

}  // namespace cb
