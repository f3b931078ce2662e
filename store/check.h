// `cbuild system check [--repair]` (as `podman system check`): the whole store re-read and
// cross-checked. Every blob is re-hashed; every tag, image (manifest, config, layers), layer
// record, layer snapshot and cache record is checked against what it names; SQLite checks its
// own file. What is wrong is reported; with repair, removed or remade.
//
// Not damage (prune's business, not reported): blobs and snapshots nothing references, the
// leftovers of dead processes (swept when a store is opened). Not reported either: what a
// live cbuild process has leased and is still writing (a layer record whose snapshot is being
// committed), so that a check next to running builds reports only real damage.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/store.h"

namespace cb::store {

/// One thing found wrong, and what the repair did about it.
struct Finding {
  std::string what;    ///< "blob sha256:…: a symbolic link, not a regular file"
  std::string repair;  ///< "removed", "tag removed: build or pull it again"; empty when not repaired
  bool fixed = false;  ///< the store no longer has this problem
};

struct CheckReport {
  int64_t blobs = 0, layers = 0, images = 0, records = 0;  ///< what was checked
  std::vector<Finding> findings;
  /// Nothing wrong, or everything repaired.
  bool Sound() const;
};

struct CheckOptions {
  bool repair = false;
};

/// Checks the store. Blobs are re-hashed without a lock (they never change in place); the rest
/// is checked under the exclusive gc lock (Leases::LockExclusive), so that prune and other
/// checks wait, and running builds pause only where they read a reference. Errors: the store
/// could not be read at all (the lock, the database).
Result<CheckReport> CheckStore(Store& store, const CheckOptions& opts);

}  // namespace cb::store
