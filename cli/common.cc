#include "cli/common.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "common/unique_fd.h"
#include "sandbox/sandbox.h"

#include "cli/verbs.h"

namespace cb::cli {

int Fail(const std::string& message) {
  fmt::print(stderr, "cbuild: {}\n", message);
  return 1;
}

int Fail(const Error& e) { return Fail(e.ToString()); }

std::unique_ptr<store::Store> OpenStore(const GlobalOptions& g) {
  spdlog::debug("store `{}`", g.root);
  auto s = store::Store::Open(g.root);
  if (!s) {
    Fail(fmt::format("open store `{}`: {}", g.root, s.error().ToString()));
    return nullptr;
  }
  return std::move(s).value();
}

void CleanStale(store::Store& store) {
  (void)sandbox::CleanupStaleSandboxes();
  std::string dir = store.root() + "/containers";
  auto names = fs::ListDir(dir);
  if (!names) return;
  for (const auto& n : *names) {
    std::string path = dir + "/" + n;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    // Held by a running `cbuild run --name`: not ours to touch.
    if (fd && ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
      spdlog::debug("remove stale container name `{}`", path);
      ::unlink(path.c_str());
    }
  }
}

}  // namespace cb::cli
