#include "cli/cli_options.h"

#include <fmt/format.h>

namespace cb::cli {

CLI::Option* AddNetworkOption(CLI::App* app, NetworkMode& out, bool docker_aliases, const std::string& help) {
  auto* opt = app->add_option_function<std::string>(
      "--network", [&out, docker_aliases](const std::string& v) { out = *ParseNetworkMode(v, docker_aliases); },
      help);
  opt->check(CLI::Validator(
      [docker_aliases](std::string& v) {
        return ParseNetworkMode(v, docker_aliases) ? std::string()
                                                   : fmt::format("`{}` is not one of default, none, host", v);
      },
      ""));
  opt->type_name("MODE");
  opt->default_str(std::string(FormatNetworkMode(out)));
  return opt;
}

}  // namespace cb::cli
