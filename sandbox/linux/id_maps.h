// User-namespace id maps (uid_map/gid_map) for a sandbox.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/result.h"

namespace cb::sandbox::linux_impl {

struct IdRange {
  unsigned inside = 0, outside = 0, count = 0;
};

/// The maps a sandbox's user namespace gets, decided before clone.
struct IdMaps {
  std::vector<IdRange> uids, gids;
  bool via_helpers = false;    ///< written by newuidmap/newgidmap (setuid helpers)
  bool deny_setgroups = false; ///< single-id map of an unprivileged user: setgroups is denied
};

/// Maps for the calling user: identity 0..65535 for root; 0 -> the user plus its
/// /etc/subuid and /etc/subgid ranges when the helpers exist; else 0 -> the user only.
IdMaps PlanIdMaps();

/// Writes the maps of process `pid` (still waiting for them). Error names the file or helper.
Status ApplyIdMaps(pid_t pid, const IdMaps& maps);

/// "name:start:count" / "uid:start:count" lines of a subid file for `user` or `uid`.
std::vector<IdRange> SubordinateRanges(const std::string& file_text, const std::string& user,
                                       unsigned uid);

}  // namespace cb::sandbox::linux_impl
