// Private to cli/: the process's spdlog setup (cli/ is the only place that configures it).
#pragma once

#include <string_view>

namespace cb::cli {

/// The levels `--log-level` takes, least to most severe.
inline constexpr std::string_view kLogLevels[] = {"debug", "info", "warn", "error"};

/// Sends spdlog's messages to stderr as "cbuild: <level>: <text>" and shows those at `level`
/// (one of kLogLevels) and above. Build warnings (unused --build-arg, ...) obey it too: they
/// are shown only at "warn" and below.
void SetUpLogging(std::string_view level);

}  // namespace cb::cli
