// cbuild's entry point: wiring only — the global options, the verb table, dispatch. Each verb
// registers its own options (Add*Verb(s) in its cli/<verb>.cc). The only place that catches
// exceptions (library construction failures).
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/logging.h"
#include "cli/verbs.h"

namespace {

using cb::cli::GlobalOptions;
using AddVerbs = void (*)(CLI::App&, const GlobalOptions&, int&);

constexpr AddVerbs kVerbs[] = {cb::cli::AddBuildVerb,     cb::cli::AddRunVerb,      cb::cli::AddImageVerbs,
                               cb::cli::AddArchiveVerbs,  cb::cli::AddRegistryVerbs, cb::cli::AddSpaceVerbs,
                               cb::cli::AddDebugVerbs};

std::string DefaultRoot() {
  if (const char* r = std::getenv("CBUILD_ROOT"); r && *r) return r;
  if (::geteuid() == 0) return "/var/lib/cbuild";
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::string(x) + "/cbuild";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.local/share/cbuild";
}

void AddGlobalOptions(CLI::App& app, GlobalOptions& g) {
  app.set_version_flag("--version", "cbuild 0.1.0");
  g.root = DefaultRoot();
  app.add_option("--root", g.root, "Store directory (images, blobs, snapshots, cache); env CBUILD_ROOT")
      ->capture_default_str();
  app.add_option("--log-level", g.log_level, "debug|info|warn|error: diagnostics on stderr at this level and above")
      ->check(CLI::IsMember(std::vector<std::string>(std::begin(cb::cli::kLogLevels), std::end(cb::cli::kLogLevels))))
      ->capture_default_str();
  // Before any verb's callback runs: the verbs log at the level asked for.
  app.parse_complete_callback([&g] { cb::cli::SetUpLogging(g.log_level); });
}

/// `cbuild -f Dockerfile .` (no verb) means `cbuild build -f Dockerfile .`: the args reversed,
/// as CLI11's parse(vector) wants them.
std::vector<std::string> Args(const CLI::App& app, int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  size_t i = 0;
  while (i < args.size()) {
    const std::string& a = args[i];
    if (a == "--root" || a == "--log-level") {
      i += 2;
    } else if (a.rfind("--root=", 0) == 0 || a.rfind("--log-level=", 0) == 0) {
      i += 1;
    } else {
      break;
    }
  }
  static const std::string kNotVerbs[] = {"help", "--help", "-h", "--version"};
  auto is_verb = [&](const std::string& a) {
    return !app.get_subcommands([&](const CLI::App* sub) { return sub->check_name(a); }).empty();
  };
  if (i < args.size() && !is_verb(args[i]) &&
      std::find(std::begin(kNotVerbs), std::end(kNotVerbs), args[i]) == std::end(kNotVerbs))
    args.insert(args.begin() + static_cast<long>(i), "build");
  std::reverse(args.begin(), args.end());
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cbuild: a fast, daemonless, reproducible Dockerfile build engine", "cbuild"};
  app.require_subcommand(1);
  GlobalOptions g;
  AddGlobalOptions(app, g);
  int rc = 0;
  for (AddVerbs add : kVerbs) add(app, g, rc);
  try {
    app.parse(Args(app, argc, argv));
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    return cb::cli::Fail(e.what());
  }
  return rc;
}
