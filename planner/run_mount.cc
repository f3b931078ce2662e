#include "planner/run_mount.h"

namespace cb::planner {

std::string_view FormatMountType(MountType t) {
  switch (t) {
    case MountType::kBind: return "bind";
    case MountType::kCache: return "cache";
    case MountType::kTmpfs: return "tmpfs";
    case MountType::kSecret: return "secret";
    case MountType::kSsh: return "ssh";
  }
  return "bind";
}

std::optional<MountType> ParseMountType(std::string_view s) {
  for (MountType t : {MountType::kBind, MountType::kCache, MountType::kTmpfs, MountType::kSecret, MountType::kSsh})
    if (s == FormatMountType(t)) return t;
  return std::nullopt;
}

std::string_view FormatMountSharing(MountSharing s) {
  switch (s) {
    case MountSharing::kShared: return "shared";
    case MountSharing::kPrivate: return "private";
    case MountSharing::kLocked: return "locked";
  }
  return "shared";
}

std::optional<MountSharing> ParseMountSharing(std::string_view s) {
  for (MountSharing m : {MountSharing::kShared, MountSharing::kPrivate, MountSharing::kLocked})
    if (s == FormatMountSharing(m)) return m;
  return std::nullopt;
}

}  // namespace cb::planner
