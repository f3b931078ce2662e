#include "tests/snapshotter/tar_test_util.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include <doctest/doctest.h>

#include "common/digest.h"
#include "common/fs.h"

namespace cb::tartest {

TempDir::TempDir(const std::string& prefix) {
  auto r = fs::MakeTempDir("/var/tmp", prefix);
  REQUIRE_MESSAGE(r.has_value(), "make temp dir");
  path_ = *r;
}

TempDir::~TempDir() {
  Sh("chattr -R -i '" + path_ + "' 2>/dev/null; true");
  (void)fs::RemoveTree(path_);
}

void WriteFile(const std::string& path, const std::string& data, mode_t mode) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  REQUIRE_MESSAGE(fd, "create " << path);
  REQUIRE(::write(fd.get(), data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  REQUIRE(::fchmod(fd.get(), mode) == 0);
}

std::string ReadAll(const std::string& path) {
  auto r = fs::ReadFile(path);
  REQUIRE_MESSAGE(r.has_value(), "read " << path);
  return *r;
}

int Sh(const std::string& cmd) {
  int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

UniqueFd MemFile() {
  UniqueFd fd(::memfd_create("cb-layer", MFD_CLOEXEC));
  REQUIRE(fd);
  return fd;
}

std::string FdContent(int fd) {
  std::string out;
  char buf[1 << 16];
  for (off_t off = 0;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, off);
    REQUIRE(n >= 0);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    off += n;
  }
  return out;
}

void SetTimes(const std::string& path, int64_t mtime, int64_t atime) {
  struct timespec ts[2];
  ts[0].tv_sec = atime >= 0 ? atime : mtime;
  ts[0].tv_nsec = 0;
  ts[1].tv_sec = mtime;
  ts[1].tv_nsec = 0;
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW) == 0);
}

std::vector<TarEntry> ReadTar(const std::string& bytes) {
  std::vector<TarEntry> out;
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  archive_read_support_format_empty(a);
  REQUIRE(archive_read_open_memory(a, bytes.data(), bytes.size()) == ARCHIVE_OK);
  archive_entry* e;
  int r;
  while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    TarEntry t;
    t.path = archive_entry_pathname(e);
    t.mode = archive_entry_mode(e);
    t.uid = archive_entry_uid(e);
    t.gid = archive_entry_gid(e);
    t.size = archive_entry_size(e);
    t.mtime = archive_entry_mtime(e);
    t.has_atime = archive_entry_atime_is_set(e);
    t.has_ctime = archive_entry_ctime_is_set(e);
    t.has_uname = (archive_entry_uname(e) && *archive_entry_uname(e)) ||
                  (archive_entry_gname(e) && *archive_entry_gname(e));
    if (archive_entry_symlink(e)) t.symlink = archive_entry_symlink(e);
    if (archive_entry_hardlink(e)) t.hardlink = archive_entry_hardlink(e);
    t.rdev_major = archive_entry_rdevmajor(e);
    t.rdev_minor = archive_entry_rdevminor(e);
    const char* name;
    const void* value;
    size_t size;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
      t.xattrs[name] = std::string(static_cast<const char*>(value), size);
    }
    t.sparse = archive_entry_sparse_count(e) > 0;
    const void* buf;
    la_int64_t off;
    while (archive_read_data_block(a, &buf, &size, &off) == ARCHIVE_OK) {
      if (t.data.size() < static_cast<size_t>(off)) t.data.resize(static_cast<size_t>(off));
      t.data.append(static_cast<const char*>(buf), size);
    }
    out.push_back(std::move(t));
  }
  std::string err = archive_error_string(a) ? archive_error_string(a) : "";
  CHECK_MESSAGE(r == ARCHIVE_EOF, err);
  archive_read_free(a);
  return out;
}

DiffOut DiffDir(const std::string& dir, const snapshotter::DiffOptions& opts) {
  UniqueFd fd = MemFile();
  auto r = snapshotter::NewTarDiffer()->Diff(dir, fd.get(), opts);
  REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
  DiffOut out{*r, FdContent(fd.get())};
  CHECK(out.blob.size == static_cast<int64_t>(out.bytes.size()));
  CHECK(out.blob.digest == Sha256Of(out.bytes));
  return out;
}

namespace {

std::string Xattrs(const std::string& p) {
  char list[8192];
  ssize_t n = ::llistxattr(p.c_str(), list, sizeof list);
  if (n <= 0) return "";
  std::vector<std::string> keys;
  for (ssize_t i = 0; i < n;) {
    std::string k(list + i);
    i += static_cast<ssize_t>(k.size()) + 1;
    keys.push_back(k);
  }
  std::sort(keys.begin(), keys.end());
  std::string out;
  for (const auto& k : keys) {
    char v[4096];
    ssize_t m = ::lgetxattr(p.c_str(), k.c_str(), v, sizeof v);
    out += " " + k + "=" + std::string(v, m > 0 ? static_cast<size_t>(m) : 0);
  }
  return out;
}

}  // namespace

std::string DescribeTree(const std::string& dir, bool with_mtime) {
  std::vector<std::pair<std::string, std::pair<dev_t, ino_t>>> lines;
  std::map<std::pair<dev_t, ino_t>, std::string> links;  // inode → smallest path
  namespace sfs = std::filesystem;
  for (auto it = sfs::recursive_directory_iterator(dir); it != sfs::recursive_directory_iterator();
       ++it) {
    std::string p = it->path().string();
    std::string rel = p.substr(dir.size() + 1);
    struct stat st;
    REQUIRE(::lstat(p.c_str(), &st) == 0);
    std::string line = fmt::format("{} mode={:o} uid={} gid={}", rel, st.st_mode, st.st_uid,
                                   st.st_gid);
    if (with_mtime && !S_ISDIR(st.st_mode)) line += fmt::format(" mtime={}", st.st_mtim.tv_sec);
    if (S_ISREG(st.st_mode)) {
      line += fmt::format(" size={} sha={}", st.st_size, Sha256OfFile(p)->Short());
    }
    if (S_ISLNK(st.st_mode)) line += " -> " + sfs::read_symlink(it->path()).string();
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      line += fmt::format(" rdev={}:{}", major(st.st_rdev), minor(st.st_rdev));
    }
    line += Xattrs(p);
    std::pair<dev_t, ino_t> key{0, 0};
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
      key = {st.st_dev, st.st_ino};
      auto [li, fresh] = links.try_emplace(key, rel);
      if (!fresh && rel < li->second) li->second = rel;
    }
    lines.emplace_back(line, key);
  }
  std::vector<std::string> out_lines;
  for (auto& [line, key] : lines) {
    out_lines.push_back(links.count(key) ? line + " link-group=" + links[key] : line);
  }
  std::sort(out_lines.begin(), out_lines.end());
  std::string out;
  for (const auto& l : out_lines) out += l + "\n";
  return out;
}

}  // namespace cb::tartest
