// `cbuild pull`, `cbuild push`, `cbuild login`, `cbuild logout`.
#include <termios.h>
#include <unistd.h>

#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "cli/common.h"
#include "cli/verbs.h"
#include "registry/credentials.h"
#include "registry/registry.h"

#include "executor/export.h"

namespace cb::cli {
namespace {

Result<registry::RegistryOptions> Options(const RegistryCliOptions& o) {
  auto opts = CB_TRY(registry::RegistryOptions::LoadDefault());
  opts.insecure_registries.insert(opts.insecure_registries.end(), o.insecure_registries.begin(),
                                  o.insecure_registries.end());
  if (!o.ca_file.empty()) opts.ca_file = o.ca_file;
  if (!o.platform.empty()) opts.platform = o.platform;
  if (o.chunk_size > 0) opts.chunk_size = o.chunk_size;
  return opts;
}

std::unique_ptr<registry::TransferProgress> ProgressFor(const RegistryCliOptions& o) {
  if (o.quiet) return registry::NewSilentProgress();
  return registry::NewTerminalProgress(stderr, ::isatty(2) != 0);
}

/// Reads one line from the terminal, without echo when `secret`.
std::string Prompt(const std::string& what, bool secret) {
  fmt::print(stderr, "{}: ", what);
  termios old{};
  bool tty = ::tcgetattr(0, &old) == 0;
  if (secret && tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(0, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (secret && tty) {
    ::tcsetattr(0, TCSANOW, &old);
    fmt::print(stderr, "\n");
  }
  return line;
}

}  // namespace

int Pull(const GlobalOptions& g, const RegistryCliOptions& o, const std::string& name) {
  auto ref = image::ParseReference(name);
  if (!ref) return Fail(ref.error());
  auto opts = Options(o);
  if (!opts) return Fail(opts.error());
  auto store = OpenStore(g);
  if (!store) return 1;
  auto progress = ProgressFor(o);
  registry::Stores stores{store->blobs(), store->meta(), store->images()};
  auto img = registry::Pull(*ref, stores, *opts, *progress);
  if (!img) return Fail(img.error());
  fmt::print("{}\n", ref->String());
  return 0;
}

int Push(const GlobalOptions& g, const RegistryCliOptions& o, const std::string& name) {
  auto ref = image::ParseReference(name);
  if (!ref) return Fail(ref.error());
  auto opts = Options(o);
  if (!opts) return Fail(opts.error());
  auto store = OpenStore(g);
  if (!store) return 1;
  auto img = store->images().Resolve(name);
  if (!img) return Fail(img.error());
  // Layers are stored uncompressed (lazy compression): make their gzip blobs before a push.
  img = executor::MaterializeImage(*store, *img, snapshotter::Compression::kGzip, std::nullopt);
  if (!img) return Fail(fmt::format("push {}: {}", ref->String(), img.error().ToString()));
  auto progress = ProgressFor(o);
  registry::Stores stores{store->blobs(), store->meta(), store->images()};
  auto digest = registry::Push(*img, *ref, stores, *opts, *progress);
  if (!digest) return Fail(fmt::format("push {}: {}", ref->String(), digest.error().ToString()));
  fmt::print("{}@{}\n", ref->Name(), digest->ToString());
  return 0;
}

int PushImages(const GlobalOptions& g, const std::vector<std::string>& names) {
  RegistryCliOptions o;
  if (names.empty()) return Fail("build --push: name the image with -t NAME[:TAG]");
  for (const auto& n : names)
    if (int rc = Push(g, o, n); rc != 0) return rc;
  return 0;
}

int Login(const RegistryCliOptions& o, const std::string& server, std::string user, std::string password,
          bool password_stdin) {
  auto opts = Options(o);
  if (!opts) return Fail(opts.error());
  if (password_stdin) {
    if (user.empty()) return Fail("login: --password-stdin needs --username");
    std::getline(std::cin, password);
    while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) password.pop_back();
  }
  bool tty = ::isatty(0) != 0;
  if (user.empty()) {
    if (!tty) return Fail("login: no --username given and stdin is not a terminal");
    user = Prompt("Username", false);
  }
  if (password.empty()) {
    if (!tty) return Fail("login: no password given (use --password-stdin)");
    password = Prompt("Password", true);
  }
  if (user.empty() || password.empty()) return Fail("login: username and password must not be empty");
  auto st = registry::Login(server, user, password, *opts);
  if (!st) return Fail(st.error());
  fmt::print("Login Succeeded\n");
  return 0;
}

int Logout(const std::string& server) {
  auto config = registry::DockerConfig::Load(registry::DockerConfig::DefaultPath());
  if (!config) return Fail(config.error());
  std::string domain = server;
  if (domain.empty() || domain == "index.docker.io") domain = "docker.io";
  auto had = config->Erase(domain);
  if (!had) return Fail(had.error());
  if (!*had) return Fail(fmt::format("logout: not logged in to {}", domain));
  fmt::print("Removing login credentials for {}\n", domain);
  return 0;
}

void AddRegistryVerbs(CLI::App& app, const GlobalOptions& g, int& rc) {
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

}  // namespace cb::cli
