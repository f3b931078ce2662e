// `cbuild run`: a container from an image, in the sandbox, on a throwaway writable layer.
#include <fmt/core.h>

#include "cli/common.h"
#include "cli/verbs.h"
#include "executor/host_mount.h"
#include "executor/sandbox.h"
#include "registry/registry.h"

namespace cb::cli {
namespace {

constexpr int kRunFailed = 125;  // cbuild itself failed, as `docker run`

int RunFail(const std::string& msg) {
  fmt::print(stderr, "cbuild: {}\n", msg);
  return kRunFailed;
}

std::vector<std::string> Argv(const image::ContainerConfig& c, const RunOptions& o) {
  std::vector<std::string> argv;
  if (o.entrypoint_set) {
    if (!o.entrypoint.empty()) argv.push_back(o.entrypoint);
  } else if (c.entrypoint) {
    argv = *c.entrypoint;
  }
  if (!o.args.empty()) {
    argv.insert(argv.end(), o.args.begin(), o.args.end());
  } else if (c.cmd && !o.entrypoint_set) {
    argv.insert(argv.end(), c.cmd->begin(), c.cmd->end());
  }
  return argv;
}

std::vector<std::string> Env(image::ImageConfig cfg, const RunOptions& o) {
  for (const auto& kv : o.env) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) {
      const char* v = std::getenv(kv.c_str());  // `-e NAME` passes the caller's value, as Docker
      if (v) cfg.SetEnv(kv, v);
    } else {
      cfg.SetEnv(kv.substr(0, eq), kv.substr(eq + 1));
    }
  }
  return cfg.config.env;
}

}  // namespace

int Run(const GlobalOptions& g, const RunOptions& o) {
  if (auto ns = executor::EnterPrivateMountNamespace(); !ns)
    return RunFail(fmt::format("run needs root (mount namespaces, overlayfs): {}", ns.error().message));
  auto store = OpenStore(g);
  if (!store) return kRunFailed;
  auto img = registry::ResolveOrPull(o.image, {store->blobs(), store->meta(), store->images()});
  if (!img) return RunFail(img.error().ToString());
  if (auto st = store->EnsureSnapshots(*img); !st) return RunFail(st.error().ToString());
  auto snap = store->snapshots().Prepare(img->config.diff_ids);
  if (!snap) return RunFail(snap.error().ToString());
  executor::SandboxSpec spec;
  spec.mounts = {(*snap)->RootMount()};
  spec.rootfs_dir = (*snap)->rootfs();
  spec.argv = Argv(img->config.config, o);
  if (spec.argv.empty()) return RunFail(fmt::format("image `{}` has no command to run: give one after the image name", o.image));
  spec.env = Env(img->config, o);
  spec.cwd = !o.workdir.empty() ? o.workdir
             : img->config.config.working_dir.empty() ? "/" : img->config.config.working_dir;
  spec.network = o.network == "none" ? executor::NetworkMode::kNone : executor::NetworkMode::kHost;
  spec.stdin_fd = o.interactive ? 0 : -1;
  if (!o.name.empty()) spec.hostname = o.name;
  auto sandbox = executor::NewLinuxSandbox();
  auto status = sandbox->Run(spec);
  if (!status) return RunFail(status.error().ToString());
  return status->code;
}

}  // namespace cb::cli
