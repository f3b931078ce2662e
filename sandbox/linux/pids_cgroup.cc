#include "sandbox/linux/pids_cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "common/fs.h"

namespace cb::sandbox::linux_impl {
namespace {

std::atomic<unsigned> g_counter{0};

// "<mount point><own cgroup path>/cbuild" for the pids controller, or nullopt.
std::optional<std::string> BaseDir() {
  std::ifstream cg("/proc/self/cgroup");
  std::string line, v1_path, v2_path;
  bool have_v2 = false, have_v1 = false;
  while (std::getline(cg, line)) {
    // "<id>:<controllers>:<path>"
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    std::istringstream words(controllers);
    std::string w;
    while (std::getline(words, w, ','))
      if (w == "pids") have_v1 = true, v1_path = path;
    if (line.rfind("0::", 0) == 0) have_v2 = true, v2_path = path;
  }
  if (have_v1 && fs::Exists("/sys/fs/cgroup/pids/cgroup.procs"))
    return "/sys/fs/cgroup/pids" + (v1_path == "/" ? std::string() : v1_path) + "/cbuild";
  if (have_v2 && fs::Exists("/sys/fs/cgroup/cgroup.controllers")) {
    auto ctl = fs::ReadFile("/sys/fs/cgroup/cgroup.controllers");
    if (!ctl || ctl->find("pids") == std::string::npos) return std::nullopt;
    return "/sys/fs/cgroup" + (v2_path == "/" ? std::string() : v2_path) + "/cbuild";
  }
  return std::nullopt;
}

bool IsV2(const std::string& base) { return base.rfind("/sys/fs/cgroup/pids", 0) != 0; }

Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  f.flush();
  if (!f) return MakeError(ErrorCode::kIo, "write `{}` to `{}` failed", text, path);
  return Ok();
}

// Kills whatever is still in `dir`, then removes it (retrying while the kernel finishes).
void Remove(const std::string& dir) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return;
    if (errno != EBUSY) return;
    std::ifstream procs(dir + "/cgroup.procs");
    pid_t pid;
    while (procs >> pid) kill(pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

PidsCgroup& PidsCgroup::operator=(PidsCgroup&& o) noexcept {
  if (this != &o) {
    if (!dir_.empty()) Remove(dir_);
    dir_ = std::move(o.dir_);
    o.dir_.clear();
  }
  return *this;
}

PidsCgroup::~PidsCgroup() {
  if (!dir_.empty()) Remove(dir_);
}

Result<PidsCgroup> PidsCgroup::Create(int64_t limit) {
  PidsCgroup cg;
  if (limit <= 0) return cg;
  std::optional<std::string> base = BaseDir();
  if (!base) return cg;
  if (mkdir(base->c_str(), 0755) != 0 && errno != EEXIST) return cg;  // not delegated to us
  if (IsV2(*base)) {
    std::string parent = base->substr(0, base->rfind('/'));
    (void)WriteText(parent + "/cgroup.subtree_control", "+pids");
    (void)WriteText(*base + "/cgroup.subtree_control", "+pids");
  }
  std::string dir = fmt::format("{}/cbuild-{}-{}", *base, getpid(), g_counter++);
  if (mkdir(dir.c_str(), 0755) != 0) {
    if (errno == EACCES || errno == EPERM || errno == EROFS) return cg;  // not ours to use
    return ErrnoError(errno, fmt::format("create cgroup `{}`", dir));
  }
  cg.dir_ = dir;
  if (!fs::Exists(dir + "/pids.max")) {  // v2 without the pids controller enabled below us
    Remove(dir);
    cg.dir_.clear();
    return cg;
  }
  CB_TRY_CTX(WriteText(dir + "/pids.max", std::to_string(limit)), "limit processes");
  return cg;
}

Status PidsCgroup::Join(pid_t pid) const {
  if (dir_.empty()) return Ok();
  return WriteText(dir_ + "/cgroup.procs", std::to_string(pid));
}

Status CleanupStalePidsCgroups() {
  std::optional<std::string> base = BaseDir();
  if (!base) return Ok();
  DIR* d = opendir(base->c_str());
  if (d == nullptr) return Ok();
  while (dirent* e = readdir(d)) {
    int owner = 0;
    unsigned n = 0;
    if (sscanf(e->d_name, "cbuild-%d-%u", &owner, &n) != 2 || owner <= 0) continue;
    if (kill(owner, 0) == 0 || errno == EPERM) continue;  // the owner still runs
    Remove(*base + "/" + e->d_name);
  }
  closedir(d);
  return Ok();
}

}  // namespace cb::sandbox::linux_impl
