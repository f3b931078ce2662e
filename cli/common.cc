#include "cli/common.h"

#include <fmt/core.h>

#include "cli/verbs.h"

namespace cb::cli {

int Fail(const std::string& message) {
  fmt::print(stderr, "cbuild: {}\n", message);
  return 1;
}

int Fail(const Error& e) { return Fail(e.ToString()); }

std::unique_ptr<executor::Store> OpenStore(const GlobalOptions& g) {
  auto s = executor::Store::Open(g.root);
  if (!s) {
    Fail(fmt::format("open store `{}`: {}", g.root, s.error().ToString()));
    return nullptr;
  }
  return std::move(s).value();
}

}  // namespace cb::cli
