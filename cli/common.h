// Helpers shared by the verbs: opening the store, printing errors.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "executor/store.h"

namespace cb::cli {

struct GlobalOptions;

/// Opens the store at g.root, printing the error (and returning null) on failure.
std::unique_ptr<executor::Store> OpenStore(const GlobalOptions& g);

/// Prints "cbuild: <error>" and returns 1.
int Fail(const Error& e);

}  // namespace cb::cli
