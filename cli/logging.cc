#include "cli/logging.h"

#include <string>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace cb::cli {

void SetUpLogging(std::string_view level) {
  auto logger = spdlog::stderr_logger_mt("cbuild");
  logger->set_pattern("cbuild: %l: %v");
  logger->set_level(spdlog::level::from_str(std::string(level)));
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace cb::cli
