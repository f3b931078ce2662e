// One function per verb; cli/main.cc parses the command line (CLI11) and calls these.
// Each returns the process exit status. Kept free of heavy headers.
#pragma once

#include <string>
#include <vector>

#include "common/network_mode.h"

namespace CLI {
class App;
}

namespace cb::cli {

struct GlobalOptions {
  std::string root;       ///< --root / CBUILD_ROOT / default
  std::string log_level = "warn";
};

struct BuildOptions {
  std::string file;              ///< -f; empty = CONTEXT/Dockerfile; "-" = stdin
  std::vector<std::string> tags;
  std::string target;
  bool no_cache = false;
  std::string progress = "auto";
  bool quiet = false;  ///< -q: only the digest on stdout (errors still on stderr)
  std::string metadata_file;
  std::string output;  ///< --output spec (executor/export.h); empty = the store only
  std::string context = ".";
  bool push = false;  ///< --push: push every -t name after the build
  std::vector<std::string> build_args;  ///< K=V, or K to take the caller's environment value
  std::vector<std::string> secrets;     ///< id=ID,src=PATH (or env=VAR)
  std::string platform = "linux/amd64";
  NetworkMode network = NetworkMode::kDefault;  ///< --network: RUN's network unless RUN --network says otherwise
};

struct RunOptions {
  bool rm = false, interactive = false, tty = false;
  std::vector<std::string> env;
  std::vector<std::string> volumes;
  std::string workdir, user, entrypoint, name, hostname;
  NetworkMode network = NetworkMode::kDefault;
  bool entrypoint_set = false;
  std::string image;
  std::vector<std::string> args;
};

/// Each registers its verb(s), options and --help text on `app`; their callbacks set rc.
void AddBuildVerb(CLI::App& app, const GlobalOptions& g, int& rc);     ///< build (cli/build.cc)
void AddRunVerb(CLI::App& app, const GlobalOptions& g, int& rc);       ///< run (cli/run.cc)
void AddImageVerbs(CLI::App& app, const GlobalOptions& g, int& rc);    ///< images, inspect, tag, rmi, import
void AddRegistryVerbs(CLI::App& app, const GlobalOptions& g, int& rc); ///< pull, push, login, logout
void AddDebugVerbs(CLI::App& app, const GlobalOptions& g, int& rc);    ///< debug parse (cli/debug_parse.cc)

int Build(const GlobalOptions& g, const BuildOptions& o);
int Run(const GlobalOptions& g, const RunOptions& o);
int Images(const GlobalOptions& g, const std::string& format);
int Inspect(const GlobalOptions& g, const std::vector<std::string>& images);
int Tag(const GlobalOptions& g, const std::string& source, const std::string& target);
int Rmi(const GlobalOptions& g, const std::vector<std::string>& images);
/// Registers `save` and `load` (cli/save.cc, cli/load.cc); their callbacks set rc.
void AddArchiveVerbs(CLI::App& app, const GlobalOptions& g, int& rc);
int Import(const GlobalOptions& g, const std::string& tarball, const std::string& name);

/// Flags shared by pull, push and login (cli/registry.cc).
struct RegistryCliOptions {
  std::vector<std::string> insecure_registries;  ///< --insecure-registry HOST[:PORT]
  std::string ca_file;                           ///< --ca-file PEM
  std::string platform = "linux/amd64";          ///< --platform (pull)
  long long chunk_size = 0;                      ///< --chunk-size BYTES (push)
  bool quiet = false;                            ///< -q
};
int Pull(const GlobalOptions& g, const RegistryCliOptions& o, const std::string& name);
int Push(const GlobalOptions& g, const RegistryCliOptions& o, const std::string& name);
int Login(const RegistryCliOptions& o, const std::string& server, std::string user, std::string password,
          bool password_stdin);
int Logout(const std::string& server);
/// `build --push`: pushes each local image name in `names` to its registry.
int PushImages(const GlobalOptions& g, const std::vector<std::string>& names);

/// Registers `prune` and `system df` (cli/prune.cc), and `system check` (cli/check.cc, on the
/// `system` command); their callbacks set rc.
void AddSpaceVerbs(CLI::App& app, const GlobalOptions& g, int& rc);
void AddCheckVerb(CLI::App& system, const GlobalOptions& g, int& rc);

/// `cbuild debug parse [--format buildkit|json] FILE` (FILE may be "-" for stdin).
int DebugParse(const std::string& file, const std::string& format);

/// Prints "cbuild: <message>" to stderr (the one error format of every verb) and returns 1.
int Fail(const std::string& message);

}  // namespace cb::cli
