#include "sandbox/linux/mount_options.h"

#include <sys/mount.h>

#include <string_view>

namespace cb::sandbox::linux_impl {
namespace {

struct FlagWord {
  std::string_view word;
  unsigned long set;
  unsigned attr;
};

constexpr FlagWord kFlags[] = {
    {"ro", MS_RDONLY, MOUNT_ATTR_RDONLY},
    {"rw", 0, 0},
    {"nosuid", MS_NOSUID, MOUNT_ATTR_NOSUID},
    {"suid", 0, 0},
    {"nodev", MS_NODEV, MOUNT_ATTR_NODEV},
    {"dev", 0, 0},
    {"noexec", MS_NOEXEC, MOUNT_ATTR_NOEXEC},
    {"exec", 0, 0},
    {"noatime", MS_NOATIME, MOUNT_ATTR_NOATIME},
    {"nodiratime", MS_NODIRATIME, MOUNT_ATTR_NODIRATIME},
    {"relatime", MS_RELATIME, MOUNT_ATTR_RELATIME},
    {"strictatime", MS_STRICTATIME, MOUNT_ATTR_STRICTATIME},
    {"sync", MS_SYNCHRONOUS, 0},
};

constexpr std::string_view kPropagation[] = {"private", "rprivate", "slave",      "rslave",
                                             "shared",  "rshared",  "unbindable", "runbindable"};

}  // namespace

MountOptions ParseMountOptions(const std::vector<std::string>& options) {
  MountOptions o;
  for (const std::string& opt : options) {
    if (opt == "bind" || opt == "rbind") {
      o.bind = true;
      o.recursive = o.recursive || opt == "rbind";
      continue;
    }
    bool known = false;
    for (const FlagWord& f : kFlags) {
      if (opt == f.word) {
        o.flags |= f.set;
        o.attr_flags |= f.attr;
        known = true;
      }
    }
    for (std::string_view p : kPropagation) known = known || opt == p;
    if (opt == "ro") o.read_only = true;
    if (known) continue;
    o.data.push_back(opt);
    if (!o.joined.empty()) o.joined += ',';
    o.joined += opt;
  }
  return o;
}

std::string PackFsConfig(const std::vector<std::string>& data, const std::string& source) {
  std::string out;
  if (!source.empty()) {
    out += "source=" + source;
    out += '\0';
  }
  for (const std::string& d : data) {
    out += d;
    out += '\0';
  }
  out += '\0';
  return out;
}

}  // namespace cb::sandbox::linux_impl
