// Private to cli/: CLI11 options for typed values, each parsed by its one parse function.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "common/network_mode.h"

namespace cb::cli {

/// `--network MODE` into `out`, parsed by ParseNetworkMode (Docker's names of the default
/// network too when `docker_aliases`); an unknown mode is a usage error naming the choices.
CLI::Option* AddNetworkOption(CLI::App* app, NetworkMode& out, bool docker_aliases, const std::string& help);

}  // namespace cb::cli
