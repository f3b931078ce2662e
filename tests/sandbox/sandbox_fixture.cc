#include "tests/sandbox/sandbox_fixture.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace cb::sandbox::testing {
namespace {

namespace stdfs = std::filesystem;

std::string MakeTemp(const char* prefix) {
  std::string tmpl = std::string("/tmp/") + prefix + "XXXXXX";
  char* made = mkdtemp(tmpl.data());
  if (made == nullptr) std::abort();
  return tmpl;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Runs busybox on the host to list its applets.
std::vector<std::string> Applets() {
  std::vector<std::string> out;
  FILE* p = popen("/bin/busybox --list", "r");
  if (p == nullptr) return out;
  char line[256];
  while (fgets(line, sizeof line, p) != nullptr) {
    std::string s(line);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (!s.empty() && s.find('/') == std::string::npos) out.push_back(s);
  }
  pclose(p);
  return out;
}

bool CanUnshare() {
  pid_t pid = fork();
  if (pid == 0) _exit(unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC |
                              CLONE_NEWNET) == 0 ? 0 : 1);
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

bool HasOverlay() {
  std::ifstream f("/proc/filesystems");
  std::string line;
  while (std::getline(f, line))
    if (line.find("overlay") != std::string::npos) return true;
  return false;
}

}  // namespace

std::string SkipReason() {
  static const std::string reason = [] {
    if (geteuid() != 0) return std::string("SKIPPED: sandbox tests need root");
    if (access("/bin/busybox", X_OK) != 0)
      return std::string("SKIPPED: /bin/busybox missing (install busybox-static)");
    if (!HasOverlay()) return std::string("SKIPPED: kernel has no overlayfs");
    if (!CanUnshare()) return std::string("SKIPPED: cannot create namespaces here");
    return std::string();
  }();
  return reason;
}

const std::string& BusyboxLower() {
  static const std::string dir = [] {
    std::string d = MakeTemp("cbuild-sbx-lower-");
    for (const char* sub : {"bin", "proc", "sys", "dev", "tmp", "etc", "root"})
      stdfs::create_directories(d + "/" + sub);
    stdfs::copy_file("/bin/busybox", d + "/bin/busybox");
    chmod((d + "/bin/busybox").c_str(), 0755);
    for (const std::string& a : Applets()) {
      if (a == "busybox") continue;
      std::error_code ec;
      stdfs::create_symlink("busybox", d + "/bin/" + a, ec);
    }
    std::ofstream(d + "/bin/not-executable") << "#!/bin/sh\necho no\n";
    chmod((d + "/bin/not-executable").c_str(), 0644);
    std::ofstream(d + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\n"
                                        "nobody:x:65534:65534:nobody:/:/bin/sh\n";
    std::ofstream(d + "/etc/group") << "root:x:0:\nnogroup:x:65534:\n";
    chmod(d.c_str(), 0755);
    static const std::string* to_remove = new std::string(d);  // outlives static dtors
    std::atexit([] {
      std::error_code ec;
      stdfs::remove_all(*to_remove, ec);
    });
    return d;
  }();
  return dir;
}

OverlayRoot::OverlayRoot() : dir_(MakeTemp("cbuild-sbx-")) {
  for (const char* sub : {"upper", "work", "root"}) stdfs::create_directories(dir_ + "/" + sub);
}

OverlayRoot::~OverlayRoot() {
  std::error_code ec;
  stdfs::remove_all(dir_, ec);
}

SandboxSpec OverlayRoot::Spec(std::vector<std::string> argv) const {
  SandboxSpec spec;
  spec.mounts.push_back({"overlay", "overlay", "/",
                         {"lowerdir=" + BusyboxLower(), "upperdir=" + dir_ + "/upper",
                          "workdir=" + dir_ + "/work"}});
  spec.rootfs_dir = dir_ + "/root";
  spec.argv = std::move(argv);
  spec.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"};
  return spec;
}

RunOutput RunCaptured(SandboxSpec spec) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) std::abort();
  spec.stdout_fd = out_pipe[1];
  spec.stderr_fd = err_pipe[1];
  RunOutput r;
  std::thread out_reader([&] { r.out = ReadAll(out_pipe[0]); });
  std::thread err_reader([&] { r.err = ReadAll(err_pipe[0]); });
  auto sandbox = NewLinuxSandbox();
  auto res = sandbox->Run(spec);
  close(out_pipe[1]);
  close(err_pipe[1]);
  out_reader.join();
  err_reader.join();
  close(out_pipe[0]);
  close(err_pipe[0]);
  r.ok = res.has_value();
  if (r.ok) r.code = res->code;
  else r.error = res.error().ToString();
  return r;
}

std::vector<std::string> MountLinesWith(const std::string& needle) {
  std::vector<std::string> out;
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.find(needle) != std::string::npos) out.push_back(line);
  return out;
}

std::vector<std::string> Sh(const std::string& script) { return {"/bin/sh", "-c", script}; }

Canary::Canary() : dir_(MakeTemp("cbuild-canary-")) {
  std::ofstream(dir_ + "/file") << "canary\n";
  stdfs::create_directories(dir_ + "/sub");
  std::ofstream(dir_ + "/sub/inner") << "inner\n";
}

Canary::~Canary() {
  std::error_code ec;
  stdfs::remove_all(dir_, ec);
}

std::string Canary::Snapshot() const {
  std::vector<std::string> entries;
  for (const auto& e : stdfs::recursive_directory_iterator(dir_)) {
    struct stat st {};
    lstat(e.path().c_str(), &st);
    std::ostringstream line;
    line << e.path().string() << ":" << st.st_size << ":" << st.st_mode << ":" << st.st_uid;
    if (S_ISREG(st.st_mode)) {
      std::ifstream f(e.path());
      line << ":" << f.rdbuf();
    }
    entries.push_back(line.str());
  }
  std::sort(entries.begin(), entries.end());
  std::string out;
  for (const auto& s : entries) out += s + "\n";
  return out;
}

}  // namespace cb::sandbox::testing
