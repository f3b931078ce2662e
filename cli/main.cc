// cbuild's entry point: parses the command line (CLI11), configures logging and calls one verb.
// The only place that catches exceptions (library construction failures).
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "cli/cli_options.h"
#include "cli/verbs.h"

namespace {

const std::set<std::string> kVerbs = {"build", "run", "images", "inspect", "tag", "rmi",
                                      "save", "load", "import", "debug", "help", "prune", "system",
                                      "pull", "push", "login", "logout"};

std::string DefaultRoot() {
  if (const char* r = std::getenv("CBUILD_ROOT"); r && *r) return r;
  if (::geteuid() == 0) return "/var/lib/cbuild";
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::string(x) + "/cbuild";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.local/share/cbuild";
}

/// `cbuild -f Dockerfile .` (no verb) means `cbuild build -f Dockerfile .`.
std::vector<std::string> InsertDefaultVerb(int argc, char** argv) {
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
  if (i < args.size() && !kVerbs.count(args[i]) && args[i] != "--help" && args[i] != "-h" &&
      args[i] != "--version")
    args.insert(args.begin() + static_cast<long>(i), "build");
  return args;
}

/// pull, push, login, logout (cli/registry.cc).
void AddRegistryVerbs(CLI::App& app, const cb::cli::GlobalOptions& g, int& rc) {
  using namespace cb::cli;
  static RegistryCliOptions ro;
  static std::string name, user, password, server;
  static bool password_stdin = false;
  auto net = [](CLI::App* c) {
    c->add_option("--insecure-registry", ro.insecure_registries,
                  "Allow plain HTTP for this registry host[:port] (repeatable; localhost and 127.0.0.0/8 always are)")
        ->take_all()
        ->expected(1);
    c->add_option("--ca-file", ro.ca_file, "Also trust the CA certificates in this PEM file");
  };
  auto* pull = app.add_subcommand("pull", "Download an image from a registry into the store");
  pull->add_option("name", name, "NAME[:TAG|@DIGEST] (busybox = docker.io/library/busybox:latest)")->required();
  pull->add_option("--platform", ro.platform, "Image to choose from a multi-platform index (os/arch[/variant])");
  pull->add_flag("-q,--quiet", ro.quiet, "No progress output");
  net(pull);
  pull->callback([&] { rc = Pull(g, ro, name); });
  auto* push = app.add_subcommand("push", "Upload an image from the store to a registry (blobs first, manifest last)");
  push->add_option("name", name, "NAME[:TAG]: the local image, and where it goes")->required();
  push->add_option("--chunk-size", ro.chunk_size, "Upload blobs larger than BYTES in chunks of BYTES (default: one request)");
  push->add_flag("-q,--quiet", ro.quiet, "No progress output");
  net(push);
  push->callback([&] { rc = Push(g, ro, name); });
  auto* login = app.add_subcommand("login", "Store credentials for a registry in ~/.docker/config.json");
  login->add_option("server", server, "Registry host[:port] (default docker.io)");
  login->add_option("-u,--username", user, "User name");
  login->add_option("-p,--password", password, "Password or token (prefer --password-stdin)");
  login->add_flag("--password-stdin", password_stdin, "Read the password from stdin");
  net(login);
  login->callback([&] { rc = Login(ro, server, user, password, password_stdin); });
  auto* logout = app.add_subcommand("logout", "Remove stored credentials for a registry");
  logout->add_option("server", server, "Registry host[:port] (default docker.io)");
  logout->callback([&] { rc = Logout(server); });
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cb::cli;
  CLI::App app{"cbuild: a fast, daemonless, reproducible Dockerfile build engine", "cbuild"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "cbuild 0.1.0");
  GlobalOptions g;
  g.root = DefaultRoot();
  app.add_option("--root", g.root, "Store directory (images, blobs, snapshots, cache); env CBUILD_ROOT")
      ->capture_default_str();
  app.add_option("--log-level", g.log_level, "debug|info|warn|error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  int rc = 0;

  BuildOptions b;
  auto* build = app.add_subcommand("build", "Build an image from a Dockerfile and a context directory");
  build->add_option("-f,--file", b.file, "Dockerfile (default CONTEXT/Dockerfile; - for stdin)");
  build->add_option("-t,--tag", b.tags, "Name the image NAME[:TAG] (repeatable)")->allow_extra_args(false);
  build->add_option("--target", b.target, "Build this stage");
  build->add_flag("--no-cache", b.no_cache, "Run every step, ignoring the cache");
  build->add_flag("-q,--quiet", b.quiet, "Print nothing but the image digest (and the error, if the build fails)");
  build->add_option("--progress", b.progress,
                    "auto|plain|tty|json: tty is a live view (the default when stderr is a terminal), plain one "
                    "line per event (the default elsewhere), json one event object per line; all on stderr")
      ->check(CLI::IsMember({"auto", "plain", "tty", "json"}));
  build->add_option("--metadata-file", b.metadata_file, "Write build results (digests, steps) as JSON");
  build->add_option("-o,--output", b.output,
                    "type=oci|docker|local|tar|image,dest=PATH[,compression=gzip|zstd|none][,name=NAME]; "
                    "a bare PATH means type=local (see docs/formats.md)");
  build->add_option("--build-arg", b.build_args, "Set a build-time variable K=V (repeatable)")->allow_extra_args(false);
  build->add_option("--secret", b.secrets, "Expose a secret to RUN --mount=type=secret: id=ID,src=PATH or id=ID,env=VAR")->allow_extra_args(false);
  build->add_option("--platform", b.platform, "Target platform (only linux/amd64)");
  AddNetworkOption(build, b.network, false, "default|none|host: network of RUN steps without their own --network");
  build->add_flag("--push", b.push, "Push every -t name to its registry after the build");
  build->add_option("context", b.context, "Build context directory")->required();
  build->callback([&] { rc = Build(g, b); });

  RunOptions r;
  auto* run = app.add_subcommand(
      "run", "Run a command in a new container from an image, like `docker run --rm`:\n"
             "  cbuild run [OPTIONS] IMAGE [COMMAND] [ARG...]");
  run->add_flag("--rm", r.rm, "Remove the container when it exits (always done: containers are never kept)");
  run->add_flag("-i,--interactive", r.interactive, "Keep stdin attached (without it the command reads /dev/null)");
  run->add_flag("-t,--tty", r.tty,
                "Allocate a pseudo-terminal; with -i on a terminal, the terminal goes raw (^C reaches the container)");
  run->add_option("-e,--env", r.env, "Set an environment variable K=V, or K to pass the caller's value (repeatable)")
      ->allow_extra_args(false);
  run->add_option("-v,--volume", r.volumes, "Bind mount HOST-PATH:CONTAINER-PATH[:ro|rw] (absolute paths; repeatable)")
      ->allow_extra_args(false);
  run->add_option("-w,--workdir", r.workdir, "Working directory inside the container (absolute; created if missing)");
  run->add_option("-u,--user", r.user, "USER[:GROUP], names or ids, resolved in the image's /etc/passwd and /etc/group");
  run->add_option("--entrypoint", r.entrypoint, "Override the image's ENTRYPOINT (one word; \"\" clears it; CMD is dropped)");
  AddNetworkOption(run, r.network, true,
                   "default (own network namespace, outbound NAT through slirp4netns; alias bridge) | none (loopback only) | host");
  run->add_option("--name", r.name, "Container name: unique among running `cbuild run`s of this --root");
  run->add_option("--hostname", r.hostname, "Container host name (default: a random 12-digit hex id, as Docker)");
  run->prefix_command();  // IMAGE and everything after it (the command, flags included) stay unparsed
  run->footer(
      "IMAGE: a name, id or digest. Everything after IMAGE is the command and its arguments (default: the image's ENTRYPOINT + CMD).\n"
      "Exit status: the command's; 125 when cbuild fails before the command starts, 126 when it cannot\n"
      "be executed, 127 when it is not found, 128+N when it is killed by signal N. SIGINT, SIGTERM and\n"
      "SIGHUP to cbuild are forwarded to the command (SIGKILL 5 s later if it is still running);\n"
      "cbuild then exits 130, 143 or 129. See docs/run.md.");
  run->callback([&] {
    r.entrypoint_set = run->count("--entrypoint") > 0;
    r.args = run->remaining();
    if (r.args.empty() || r.args[0].empty() || r.args[0][0] == '-') {
      rc = Fail(r.args.empty() ? std::string("run: IMAGE is required (cbuild run [OPTIONS] IMAGE [COMMAND] [ARG...])")
                               : "run: unknown flag `" + r.args[0] + "` (see cbuild run --help)") + 1;
      return;
    }
    r.image = r.args[0];
    r.args.erase(r.args.begin());
    rc = Run(g, r);
  });

  std::string images_format = "table";
  auto* images = app.add_subcommand("images", "List images");
  images->add_option("--format", images_format, "table|json")->check(CLI::IsMember({"table", "json"}));
  images->callback([&] { rc = Images(g, images_format); });

  std::vector<std::string> inspect_names;
  auto* inspect = app.add_subcommand("inspect", "Show an image's manifest, config and layers as JSON");
  inspect->add_option("image", inspect_names, "Images")->required();
  inspect->callback([&] { rc = Inspect(g, inspect_names); });

  std::string tag_src, tag_dst;
  auto* tag = app.add_subcommand("tag", "Give an image another name");
  tag->add_option("source", tag_src)->required();
  tag->add_option("target", tag_dst)->required();
  tag->callback([&] { rc = Tag(g, tag_src, tag_dst); });

  std::vector<std::string> rmi_names;
  auto* rmi = app.add_subcommand("rmi", "Remove image names");
  rmi->add_option("image", rmi_names)->required();
  rmi->callback([&] { rc = Rmi(g, rmi_names); });

  AddArchiveVerbs(app, g, rc);  // save, load (cli/save.cc, cli/load.cc)

  std::string import_tar, import_name;
  auto* imp = app.add_subcommand("import", "Store a root filesystem tarball as a one-layer image");
  imp->add_option("tarball", import_tar, "ROOTFS.tar (plain or compressed)")->required();
  imp->add_option("name", import_name, "NAME[:TAG]")->required();
  imp->callback([&] { rc = Import(g, import_tar, import_name); });

  AddRegistryVerbs(app, g, rc);

  AddSpaceVerbs(app, g, rc);

  auto* debug = app.add_subcommand("debug", "Tools for looking inside cbuild");
  debug->require_subcommand(1);
  std::string parse_file, parse_format = "buildkit";
  auto* parse = debug->add_subcommand("parse", "Print a Dockerfile's parse tree");
  parse->add_option("--format", parse_format, "buildkit|json")->check(CLI::IsMember({"buildkit", "json"}));
  parse->add_option("file", parse_file, "Dockerfile (- for stdin)")->required();
  parse->callback([&] { rc = DebugParse(parse_file, parse_format); });

  std::vector<std::string> args = InsertDefaultVerb(argc, argv);
  std::reverse(args.begin(), args.end());
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    return Fail(e.what());
  }
  (void)spdlog::level::from_str(g.log_level);
  return rc;
}
