#include <doctest/doctest.h>

#include "common/network_mode.h"

using namespace cb;

TEST_CASE("NetworkMode: one spelling each, Docker's aliases only where asked") {
  for (NetworkMode m : {NetworkMode::kDefault, NetworkMode::kNone, NetworkMode::kHost})
    CHECK(ParseNetworkMode(FormatNetworkMode(m)) == m);
  CHECK(FormatNetworkMode(NetworkMode::kDefault) == "default");
  CHECK(ParseNetworkMode("bridge") == std::nullopt);
  CHECK(ParseNetworkMode("bridge", true) == NetworkMode::kDefault);
  CHECK(ParseNetworkMode("slirp4netns", true) == NetworkMode::kDefault);
  CHECK(ParseNetworkMode("Host") == std::nullopt);
  CHECK(ParseNetworkMode("") == std::nullopt);
}
