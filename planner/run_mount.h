// `RUN --mount=...` as the plan carries it: the mount's type and cache sharing as enums, with
// the one spelling of each (the Dockerfile's, also the cache key's).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cb::planner {

enum class MountType { kBind, kCache, kTmpfs, kSecret, kSsh };

/// How concurrent builds share a cache mount (BuildKit's sharing=).
enum class MountSharing { kShared, kPrivate, kLocked };

/// "bind", "cache", "tmpfs", "secret", "ssh".
std::string_view FormatMountType(MountType t);
std::optional<MountType> ParseMountType(std::string_view s);

/// "shared", "private", "locked".
std::string_view FormatMountSharing(MountSharing s);
std::optional<MountSharing> ParseMountSharing(std::string_view s);

struct RunMount {
  MountType type = MountType::kBind;
  std::string target;
  std::string source;           ///< path in the `from` root (bind) or in the cache
  std::string from;             ///< stage name/index or image; empty = context (bind)
  int from_stage = -1;          ///< resolved stage index when `from` names a stage
  std::string id;               ///< cache / secret id
  MountSharing sharing = MountSharing::kShared;
  std::optional<unsigned> mode, uid, gid;
  bool readwrite = false;       ///< bind: writes allowed (and discarded)
  bool required = false;        ///< secret: missing is an error
  std::string env;              ///< secret: also expose as this env var
  int64_t size = 0;             ///< tmpfs size in bytes (0 = default)
};

}  // namespace cb::planner
