// Helpers shared by the verbs: opening the store, printing errors.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "store/store.h"

namespace cb::cli {

struct GlobalOptions;

/// Opens the store at g.root, printing the error (and returning null) on failure.
std::unique_ptr<store::Store> OpenStore(const GlobalOptions& g);

/// At the start of `build` and `run`: removes what a cbuild process killed with SIGKILL left
/// behind (pids cgroups of its sandboxes, unheld `run --name` files). Active snapshots and
/// ingest files of dead processes are removed by Store::Open already. Never fails.
void CleanStale(store::Store& store);

/// Prints "cbuild: <error>" and returns 1.
int Fail(const Error& e);

}  // namespace cb::cli
