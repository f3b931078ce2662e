#include "executor/user_db.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <sstream>

#include "common/rooted.h"

namespace cb::executor {
namespace {

constexpr size_t kMaxUserDb = size_t{4} << 20;

/// /etc/passwd or /etc/group of the image, read on the host: empty when missing; anything but a
/// regular file of at most 4 MiB is an error naming it (a FIFO there must not hang the build,
/// a device node there must not be read).
Result<std::string> ReadInRoot(int root_fd, const std::string& path) {
  auto text = rooted::ReadRegularFile(root_fd, path, kMaxUserDb);
  if (!text && text.error().code == ErrorCode::kNotFound) return std::string();
  if (!text) return MakeError(text.error().code, "the image's {}: {}", path, text.error().message);
  return text;
}

std::vector<std::string> SplitColon(const std::string& line) {
  std::vector<std::string> f;
  size_t i = 0;
  while (true) {
    size_t j = line.find(':', i);
    f.push_back(line.substr(i, j == std::string::npos ? std::string::npos : j - i));
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return f;
}

std::optional<unsigned> Numeric(const std::string& s) {
  if (s.empty() || s.size() > 10 || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  unsigned long v = std::strtoul(s.c_str(), nullptr, 10);
  if (v > 0xfffffffeUL) return std::nullopt;
  return static_cast<unsigned>(v);
}

struct Entry {
  std::string name;
  unsigned id = 0, gid = 0;
  std::string home;
  std::vector<std::string> members;
};

std::vector<Entry> Parse(const std::string& text, bool group) {
  std::vector<Entry> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto f = SplitColon(line);
    if (f.size() < (group ? 3u : 4u)) continue;
    auto id = Numeric(f[2]);
    if (!id) continue;
    Entry e{f[0], *id, 0, "", {}};
    if (group) {
      if (f.size() > 3 && !f[3].empty()) {
        std::istringstream m(f[3]);
        std::string who;
        while (std::getline(m, who, ',')) e.members.push_back(who);
      }
    } else {
      e.gid = Numeric(f[3]).value_or(0);
      if (f.size() > 5) e.home = f[5];
    }
    out.push_back(std::move(e));
  }
  return out;
}

Result<unsigned> GroupId(const std::vector<Entry>& groups, const std::string& g) {
  if (auto n = Numeric(g)) return *n;
  for (const auto& e : groups)
    if (e.name == g) return e.id;
  return MakeError(ErrorCode::kNotFound, "group `{}` not found in the image's /etc/group", g);
}

}  // namespace

Result<Identity> ResolveUser(int root_fd, const std::string& spec) {
  Identity id;
  if (spec.empty()) return id;
  std::string user = spec.substr(0, spec.find(':'));
  std::string group = spec.find(':') == std::string::npos ? "" : spec.substr(spec.find(':') + 1);
  auto users = Parse(CB_TRY(ReadInRoot(root_fd, "/etc/passwd")), false);
  auto groups = Parse(CB_TRY(ReadInRoot(root_fd, "/etc/group")), true);
  const Entry* found = nullptr;
  if (auto n = Numeric(user)) {
    id.uid = *n;
    for (const auto& e : users)
      if (e.id == *n) found = &e;
  } else {
    for (const auto& e : users)
      if (e.name == user) found = &e;
    if (!found) return MakeError(ErrorCode::kNotFound, "user `{}` not found in the image's /etc/passwd", user);
    id.uid = found->id;
  }
  if (found) {
    id.gid = found->gid;
    if (!found->home.empty()) id.home = found->home;
  }
  if (!group.empty()) id.gid = CB_TRY(GroupId(groups, group));
  if (found && group.empty()) {
    for (const auto& g : groups)
      for (const auto& m : g.members)
        if (m == found->name && g.id != id.gid) id.extra_gids.push_back(g.id);
  }
  return id;
}

Result<Identity> ResolveChown(int root_fd, const std::string& spec) {
  Identity id;
  if (spec.empty()) return id;
  std::string user = spec.substr(0, spec.find(':'));
  std::string group = spec.find(':') == std::string::npos ? "" : spec.substr(spec.find(':') + 1);
  if (auto n = Numeric(user)) {
    id.uid = *n;
    id.gid = *n;  // Docker: --chown=1000 means 1000:1000
  } else {
    auto users = Parse(CB_TRY(ReadInRoot(root_fd, "/etc/passwd")), false);
    const Entry* found = nullptr;
    for (const auto& e : users)
      if (e.name == user) found = &e;
    if (!found) return MakeError(ErrorCode::kNotFound, "--chown: user `{}` not found in the image's /etc/passwd", user);
    id.uid = found->id;
    id.gid = found->gid;
  }
  if (!group.empty()) {
    auto groups = Parse(CB_TRY(ReadInRoot(root_fd, "/etc/group")), true);
    id.gid = CB_TRY_CTX(GroupId(groups, group), "--chown");
  }
  return id;
}

}  // namespace cb::executor
