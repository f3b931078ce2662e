// A store root in /tmp for one test, removed afterwards.
#pragma once

#include <string>

#include "common/fs.h"

namespace cb::testing {

struct TempRoot {
  std::string dir = *fs::MakeTempDir("/tmp", "cache-test-");
  ~TempRoot() { (void)fs::RemoveTree(dir); }
};

}  // namespace cb::testing
