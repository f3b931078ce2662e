// Helpers for the layer tar tests: temp dirs, tree building, reading tars back, tree compare.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "snapshotter/differ.h"

namespace cb::tartest {

/// A fresh directory under /var/tmp (ext4 here: xattrs, holes), removed on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "cb-tar-test-");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

/// Writes `data` to `path` (created or truncated) with `mode`.
void WriteFile(const std::string& path, const std::string& data, mode_t mode = 0644);
/// Whole file content.
std::string ReadAll(const std::string& path);
/// Runs a shell command; returns its exit status.
int Sh(const std::string& cmd);
/// A memfd-backed temporary file (for layer blobs).
UniqueFd MemFile();
/// Whole content of an fd from offset 0.
std::string FdContent(int fd);
/// Sets mtime (and atime) of a path without following symlinks.
void SetTimes(const std::string& path, int64_t mtime, int64_t atime = -1);

/// One tar entry as read back by libarchive.
struct TarEntry {
  std::string path;
  mode_t mode = 0;  ///< type + permissions
  int64_t uid = 0, gid = 0, size = 0, mtime = 0;
  bool has_atime = false, has_ctime = false, has_uname = false;
  std::string symlink, hardlink;
  unsigned rdev_major = 0, rdev_minor = 0;
  std::map<std::string, std::string> xattrs;
  std::string data;
  bool sparse = false;
};

/// Reads every entry of a (possibly compressed) tar held in `bytes`.
std::vector<TarEntry> ReadTar(const std::string& bytes);

/// Diffs `dir` into a memfd; returns the blob and the bytes written.
struct DiffOut {
  snapshotter::LayerBlob blob;
  std::string bytes;
};
DiffOut DiffDir(const std::string& dir, const snapshotter::DiffOptions& opts = {});

/// A canonical listing of a tree: one line per node with type, mode, owner, size, mtime,
/// link target, rdev, sorted xattrs, content hash and a hardlink group id.
std::string DescribeTree(const std::string& dir, bool with_mtime = true);

}  // namespace cb::tartest
