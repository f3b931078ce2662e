#include "sandbox/linux/id_maps.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>

#include "common/fs.h"

namespace cb::sandbox::linux_impl {
namespace {

constexpr const char* kNewUidMap = "/usr/bin/newuidmap";
constexpr const char* kNewGidMap = "/usr/bin/newgidmap";

std::string UserName(uid_t uid) {
  struct passwd pw, *found = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) != 0 || found == nullptr) return "";
  return pw.pw_name;
}

std::string MapText(const std::vector<IdRange>& ranges) {
  std::string out;
  for (const IdRange& r : ranges) out += fmt::format("{} {} {}\n", r.inside, r.outside, r.count);
  return out;
}

Status WriteProcFile(pid_t pid, const char* name, const std::string& text) {
  std::string path = fmt::format("/proc/{}/{}", pid, name);
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, fmt::format("open `{}`", path));
  ssize_t n = write(fd, text.data(), text.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(text.size())) return ErrnoError(err, fmt::format("write `{}`", path));
  return Ok();
}

Status RunHelper(const char* helper, pid_t pid, const std::vector<IdRange>& ranges) {
  std::vector<std::string> args = {helper, std::to_string(pid)};
  for (const IdRange& r : ranges) {
    args.push_back(std::to_string(r.inside));
    args.push_back(std::to_string(r.outside));
    args.push_back(std::to_string(r.count));
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  char* envp[] = {nullptr};
  pid_t child;
  int rc = posix_spawn(&child, helper, nullptr, nullptr, argv.data(), envp);
  if (rc != 0) return ErrnoError(rc, fmt::format("run `{}`", helper));
  int st = 0;
  while (waitpid(child, &st, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    return MakeError(ErrorCode::kFailed, "`{} {}` failed (status {})", helper, pid, st);
  return Ok();
}

}  // namespace

std::vector<IdRange> SubordinateRanges(const std::string& file_text, const std::string& user,
                                       unsigned uid) {
  std::vector<IdRange> out;
  std::istringstream in(file_text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string name, start, count;
    if (!std::getline(f, name, ':') || !std::getline(f, start, ':') || !std::getline(f, count))
      continue;
    if (name != user && name != std::to_string(uid)) continue;
    try {
      out.push_back({0, static_cast<unsigned>(std::stoul(start)),
                     static_cast<unsigned>(std::stoul(count))});
    } catch (...) {  // a malformed line is skipped, like shadow-utils does
    }
  }
  return out;
}

IdMaps PlanIdMaps() {
  IdMaps maps;
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (uid == 0) {
    maps.uids = {{0, 0, 65536}};
    maps.gids = {{0, 0, 65536}};
    return maps;
  }
  maps.uids = {{0, uid, 1}};
  maps.gids = {{0, gid, 1}};
  if (access(kNewUidMap, X_OK) == 0 && access(kNewGidMap, X_OK) == 0) {
    std::string name = UserName(uid);
    auto subuid = fs::ReadFile("/etc/subuid");
    auto subgid = fs::ReadFile("/etc/subgid");
    auto u = subuid ? SubordinateRanges(*subuid, name, uid) : std::vector<IdRange>{};
    auto g = subgid ? SubordinateRanges(*subgid, name, uid) : std::vector<IdRange>{};
    if (!u.empty() && !g.empty()) {
      maps.uids.push_back({1, u[0].outside, u[0].count});
      maps.gids.push_back({1, g[0].outside, g[0].count});
      maps.via_helpers = true;
      return maps;
    }
  }
  maps.deny_setgroups = true;
  return maps;
}

Status ApplyIdMaps(pid_t pid, const IdMaps& maps) {
  if (maps.via_helpers) {
    CB_TRY(RunHelper(kNewUidMap, pid, maps.uids));
    return RunHelper(kNewGidMap, pid, maps.gids);
  }
  if (maps.deny_setgroups) CB_TRY(WriteProcFile(pid, "setgroups", "deny"));
  CB_TRY(WriteProcFile(pid, "uid_map", MapText(maps.uids)));
  return WriteProcFile(pid, "gid_map", MapText(maps.gids));
}

}  // namespace cb::sandbox::linux_impl
