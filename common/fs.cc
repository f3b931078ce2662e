#include "common/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "common/unique_fd.h"

namespace cb::fs {

Result<std::string> ReadFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    Error e = ErrnoError(errno, fmt::format("open `{}`", path));
    if (errno == ENOENT) e.code = ErrorCode::kNotFound;
    return e;
  }
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, fmt::format("read `{}`", path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status SyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return ErrnoError(errno, fmt::format("open `{}`", dir));
  if (::fsync(fd.get()) != 0) return ErrnoError(errno, fmt::format("fsync `{}`", dir));
  return Ok();
}

Status WriteFileAtomic(const std::string& path, std::string_view data, unsigned mode) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  std::string tmp = path + ".tmp-XXXXXX";
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd) return ErrnoError(errno, fmt::format("create temp file for `{}`", path));
  auto fail = [&](int err, std::string_view what) {
    ::unlink(tmp.c_str());
    return ErrnoError(err, fmt::format("{} `{}`", what, path));
  };
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno, "write");
    }
    off += static_cast<size_t>(n);
  }
  if (::fchmod(fd.get(), mode) != 0) return fail(errno, "chmod");
  if (::fsync(fd.get()) != 0) return fail(errno, "fsync");
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(errno, "rename into");
  return SyncDir(dir);
}

Status MakeDirs(const std::string& path, unsigned mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return MakeError(ErrorCode::kIo, "mkdir `{}`: {}", path, ec.message());
  (void)mode;
  return Ok();
}

Status RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    return MakeError(ErrorCode::kIo, "remove `{}`: {}", path, ec.message());
  return Ok();
}

Result<std::string> MakeTempDir(const std::string& parent, std::string_view prefix) {
  std::string tmpl = parent + "/" + std::string(prefix) + "XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr)
    return ErrnoError(errno, fmt::format("mkdtemp in `{}`", parent));
  return tmpl;
}

Result<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return ErrnoError(errno, fmt::format("open `{}`", dir));
  std::vector<std::string> out;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(std::move(n));
  }
  ::closedir(d);
  return out;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace cb::fs
