// Applier: round trips through the Differ, whiteout handling, digest checks, overlay mounts.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <doctest/doctest.h>

#include "common/digest.h"
#include "common/fs.h"
#include "snapshotter/applier.h"
#include "snapshotter/differ.h"
#include "tests/snapshotter/tar_test_util.h"

using namespace cb;
using namespace cb::tartest;
using snapshotter::ApplyOptions;
using snapshotter::Compression;
using snapshotter::DiffOptions;

namespace {

Result<snapshotter::ApplyResult> ApplyBytes(const std::string& bytes, const std::string& dir,
                                            const ApplyOptions& opts) {
  UniqueFd fd = MemFile();
  REQUIRE(::write(fd.get(), bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  REQUIRE(::lseek(fd.get(), 0, SEEK_SET) == 0);
  return snapshotter::NewTarApplier()->Apply(fd.get(), dir, opts);
}

void BuildTree(const std::string& d) {
  REQUIRE(::mkdir((d + "/etc").c_str(), 0750) == 0);
  REQUIRE(::mkdir((d + "/etc/deep").c_str(), 0700) == 0);
  REQUIRE(::mkdir((d + "/tmp").c_str(), 0755) == 0);
  REQUIRE(::chmod((d + "/tmp").c_str(), 01777) == 0);
  WriteFile(d + "/etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
  WriteFile(d + "/etc/deep/file", std::string(300000, 'q'), 0600);
  REQUIRE(::chown((d + "/etc/deep/file").c_str(), 1000, 1001) == 0);
  WriteFile(d + "/suid", "#!/bin/sh\n", 0755);
  REQUIRE(::chown((d + "/suid").c_str(), 0, 50) == 0);
  REQUIRE(::chmod((d + "/suid").c_str(), 06755) == 0);
  const unsigned char cap[20] = {0, 0, 0, 2, 0, 4, 0, 0};
  REQUIRE(::setxattr((d + "/suid").c_str(), "security.capability", cap, sizeof cap, 0) == 0);
  REQUIRE(::setxattr((d + "/etc/passwd").c_str(), "user.k", "v\0w", 3, 0) == 0);
  REQUIRE(::setxattr((d + "/etc").c_str(), "trusted.cb", "dirattr", 7, 0) == 0);
  REQUIRE(::symlink("../etc/passwd", (d + "/tmp/rel").c_str()) == 0);
  REQUIRE(::symlink("/nonexistent/abs", (d + "/tmp/abs").c_str()) == 0);
  REQUIRE(::lchown((d + "/tmp/abs").c_str(), 7, 8) == 0);
  REQUIRE(::link((d + "/etc/passwd").c_str(), (d + "/tmp/hard").c_str()) == 0);
  REQUIRE(::mkfifo((d + "/tmp/fifo").c_str(), 0620) == 0);
  REQUIRE(::mknod((d + "/tmp/zero").c_str(), S_IFCHR | 0666, makedev(1, 5)) == 0);
  REQUIRE(::mknod((d + "/tmp/loop").c_str(), S_IFBLK | 0640, makedev(7, 3)) == 0);
  {
    UniqueFd fd(::open((d + "/sparse").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    REQUIRE(::pwrite(fd.get(), "x", 1, 3 << 20) == 1);
    REQUIRE(::ftruncate(fd.get(), 64 << 20) == 0);
  }
  WriteFile(d + "/empty", "", 0444);
  for (const char* p : {"/etc/passwd", "/etc/deep/file", "/suid", "/tmp/rel", "/tmp/abs",
                        "/tmp/fifo", "/sparse", "/empty", "/etc/deep", "/etc", "/tmp"}) {
    SetTimes(d + p, 1500000000 + static_cast<int64_t>(std::strlen(p)));
  }
}

}  // namespace

TEST_CASE("applier: Diff then Apply reproduces the tree (none, gzip, zstd)") {
  TempDir src;
  BuildTree(src.path());
  std::string want = DescribeTree(src.path());
  for (Compression c : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    CAPTURE(static_cast<int>(c));
    DiffOut out = DiffDir(src.path(), DiffOptions{c, {}});
    TempDir dst;
    ApplyOptions opts;
    opts.expected_diff_id = out.blob.diff_id;
    auto r = ApplyBytes(out.bytes, dst.path(), opts);
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
    CHECK(r->diff_id == out.blob.diff_id);
    CHECK(r->uncompressed_bytes > 0);
    CHECK(DescribeTree(dst.path()) == want);
    struct stat st;
    REQUIRE(::stat((dst / "sparse").c_str(), &st) == 0);
    CHECK(st.st_size == 64 << 20);
    CHECK(st.st_blocks * 512 < (1 << 20));  // the holes stayed holes
    // Re-diffing the applied tree gives the very same layer.
    CHECK(DiffDir(dst.path(), DiffOptions{c, {}}).blob.digest == out.blob.digest);
  }
}

TEST_CASE("applier: whiteouts become overlay whiteouts or deletions") {
  TempDir layer;
  REQUIRE(::mkdir((layer / "d").c_str(), 0755) == 0);
  REQUIRE(::mknod((layer / "gone").c_str(), S_IFCHR, makedev(0, 0)) == 0);
  REQUIRE(::setxattr((layer / "d").c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0);
  WriteFile(layer / "d/-new", "sorts before the opaque marker");
  WriteFile(layer / "d/new", "n");
  DiffOut out = DiffDir(layer.path(), DiffOptions{Compression::kGzip, {}});

  SUBCASE("overlay") {
    TempDir dst;
    auto r = ApplyBytes(out.bytes, dst.path(), ApplyOptions{});
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
    struct stat st;
    REQUIRE(::lstat((dst / "gone").c_str(), &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
    CHECK(st.st_rdev == makedev(0, 0));
    char v[4] = {};
    CHECK(::getxattr((dst / "d").c_str(), "trusted.overlay.opaque", v, sizeof v) == 1);
    CHECK(v[0] == 'y');
    CHECK(ReadAll(dst / "d/new") == "n");
    CHECK(DiffDir(dst.path(), DiffOptions{Compression::kGzip, {}}).blob.digest == out.blob.digest);
  }
  SUBCASE("plain") {
    TempDir dst;
    WriteFile(dst / "gone", "old");
    WriteFile(dst / "kept", "old");
    REQUIRE(::mkdir((dst / "d").c_str(), 0755) == 0);
    WriteFile(dst / "d/old", "old");
    ApplyOptions opts;
    opts.overlay_whiteouts = false;
    auto r = ApplyBytes(out.bytes, dst.path(), opts);
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
    CHECK_FALSE(fs::Exists(dst / "gone"));
    CHECK(fs::Exists(dst / "kept"));
    CHECK_FALSE(fs::Exists(dst / "d/old"));
    CHECK(ReadAll(dst / "d/-new") == "sorts before the opaque marker");
    CHECK(ReadAll(dst / "d/new") == "n");
    CHECK(::getxattr((dst / "d").c_str(), "trusted.overlay.opaque", nullptr, 0) < 0);
  }
}

TEST_CASE("applier: wrong diff_id is kCorrupt and names both digests") {
  TempDir src;
  WriteFile(src / "f", "data");
  DiffOut out = DiffDir(src.path(), DiffOptions{Compression::kZstd, {}});
  TempDir dst;
  ApplyOptions opts;
  opts.expected_diff_id = Sha256Of("something else");
  auto r = ApplyBytes(out.bytes, dst.path(), opts);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == ErrorCode::kCorrupt);
  CHECK(r.error().message.find(opts.expected_diff_id->ToString()) != std::string::npos);
  CHECK(r.error().message.find(out.blob.diff_id.ToString()) != std::string::npos);
}

TEST_CASE("applier: empty and garbage input") {
  TempDir dst;
  auto empty = ApplyBytes("", dst.path(), ApplyOptions{});
  REQUIRE_MESSAGE(empty.has_value(), (empty ? "" : empty.error().message));
  CHECK(empty->diff_id == Sha256Of(""));
  auto junk = ApplyBytes(std::string(2000, 'j'), dst.path(), ApplyOptions{});
  REQUIRE_FALSE(junk.has_value());
  MESSAGE("garbage: " << junk.error().message);
  std::string gz = DiffDir(dst.path(), DiffOptions{Compression::kGzip, {}}).bytes;
  auto cut = ApplyBytes(gz.substr(0, gz.size() / 2), dst.path(), ApplyOptions{});
  CHECK_FALSE(cut.has_value());
}

TEST_CASE("applier+differ: whiteouts and opaque dirs through a real overlay mount") {
  TempDir t;
  for (const char* d : {"lower", "upper", "work", "merged", "layer", "view", "work2"}) {
    REQUIRE(::mkdir((t / d).c_str(), 0755) == 0);
  }
  WriteFile(t / "lower/a", "a");
  WriteFile(t / "lower/keep", "k");
  REQUIRE(::mkdir((t / "lower/d").c_str(), 0755) == 0);
  WriteFile(t / "lower/d/x", "x");
  std::string opts = "lowerdir=" + (t / "lower") + ",upperdir=" + (t / "upper") +
                     ",workdir=" + (t / "work");
  if (::mount("overlay", (t / "merged").c_str(), "overlay", 0, opts.c_str()) != 0) {
    MESSAGE("SKIPPED: cannot mount overlayfs: " << std::strerror(errno));
    return;
  }
  ::unlink((t / "merged/a").c_str());
  REQUIRE(Sh("rm -rf '" + (t / "merged/d") + "' && mkdir '" + (t / "merged/d") + "'") == 0);
  WriteFile(t / "merged/d/new", "new");
  WriteFile(t / "merged/b", "b");
  REQUIRE(::umount((t / "merged").c_str()) == 0);

  DiffOut out = DiffDir(t / "upper", DiffOptions{Compression::kGzip, {}});
  auto es = ReadTar(out.bytes);
  std::vector<std::string> paths;
  for (const auto& e : es) paths.push_back(e.path);
  std::vector<std::string> want = {".wh.a", "b", "d/", "d/.wh..wh..opq", "d/new"};
  CHECK(paths == want);

  auto r = ApplyBytes(out.bytes, t / "layer", ApplyOptions{});
  REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
  std::string view_opts = "lowerdir=" + (t / "layer") + ":" + (t / "lower");
  REQUIRE(::mount("overlay", (t / "view").c_str(), "overlay", MS_RDONLY, view_opts.c_str()) == 0);
  CHECK_FALSE(fs::Exists(t / "view/a"));
  CHECK(ReadAll(t / "view/keep") == "k");
  CHECK(ReadAll(t / "view/b") == "b");
  CHECK(ReadAll(t / "view/d/new") == "new");
  CHECK_FALSE(fs::Exists(t / "view/d/x"));
  REQUIRE(::umount((t / "view").c_str()) == 0);
}
