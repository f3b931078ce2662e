// Differ: entry translation, ordering, determinism, compression formats.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "common/digest.h"
#include "snapshotter/differ.h"
#include "tests/snapshotter/tar_test_util.h"

using namespace cb;
using namespace cb::tartest;
using snapshotter::Compression;
using snapshotter::DiffOptions;

namespace {

// A tree with one of everything a layer can hold.
void BuildRichTree(const std::string& d) {
  REQUIRE(::mkdir((d + "/etc").c_str(), 0755) == 0);
  REQUIRE(::mkdir((d + "/tmp").c_str(), 01777) == 0);
  REQUIRE(::chmod((d + "/tmp").c_str(), 01777) == 0);
  WriteFile(d + "/etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
  WriteFile(d + "/a-b", "dash sorts before slash\n", 0600);
  WriteFile(d + "/etc/suid", "#!/bin/sh\n", 04755);
  REQUIRE(::chmod((d + "/etc/suid").c_str(), 04755) == 0);
  WriteFile(d + "/etc/sgid", "x", 02711);
  REQUIRE(::chown((d + "/etc/sgid").c_str(), 1234, 5678) == 0);
  REQUIRE(::chmod((d + "/etc/sgid").c_str(), 02711) == 0);
  REQUIRE(::symlink("passwd", (d + "/etc/link").c_str()) == 0);
  REQUIRE(::link((d + "/etc/passwd").c_str(), (d + "/etc/hard").c_str()) == 0);
  REQUIRE(::mkfifo((d + "/fifo").c_str(), 0640) == 0);
  REQUIRE(::mknod((d + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
  REQUIRE(::mknod((d + "/blk").c_str(), S_IFBLK | 0660, makedev(7, 42)) == 0);
  REQUIRE(::setxattr((d + "/etc/passwd").c_str(), "user.note", "hi", 2, 0) == 0);
  const unsigned char cap[20] = {0, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  REQUIRE(::setxattr((d + "/etc/suid").c_str(), "security.capability", cap, sizeof cap, 0) == 0);
  SetTimes(d + "/etc/passwd", 1000000000, 5);
  SetTimes(d + "/a-b", 2000000000);
}

const TarEntry* Find(const std::vector<TarEntry>& es, const std::string& path) {
  for (const auto& e : es) {
    if (e.path == path) return &e;
  }
  return nullptr;
}

std::vector<std::string> Paths(const std::vector<TarEntry>& es) {
  std::vector<std::string> out;
  for (const auto& e : es) out.push_back(e.path);
  return out;
}

}  // namespace

TEST_CASE("differ: entries carry every node type, sorted by path, numeric owners") {
  TempDir t;
  BuildRichTree(t.path());
  DiffOptions opts;
  opts.compression = Compression::kNone;
  DiffOut out = DiffDir(t.path(), opts);
  CHECK(out.blob.diff_id == out.blob.digest);
  CHECK(out.blob.media_type == "application/vnd.oci.image.layer.v1.tar");
  auto es = ReadTar(out.bytes);
  std::vector<std::string> want = {"a-b", "blk", "etc/", "etc/hard", "etc/link", "etc/passwd",
                                   "etc/sgid", "etc/suid", "fifo", "null", "tmp/"};
  CHECK(Paths(es) == want);
  for (const auto& e : es) {
    CHECK_FALSE(e.has_atime);
    CHECK_FALSE(e.has_ctime);
    CHECK_FALSE(e.has_uname);
  }
  const TarEntry* hard = Find(es, "etc/hard");
  REQUIRE(hard);
  // "etc/hard" sorts first, so it carries the data and "etc/passwd" links to it.
  CHECK(hard->data == "root:x:0:0::/root:/bin/sh\n");
  CHECK(hard->xattrs.at("user.note") == "hi");
  const TarEntry* passwd = Find(es, "etc/passwd");
  REQUIRE(passwd);
  CHECK(passwd->hardlink == "etc/hard");
  CHECK(passwd->mtime == 1000000000);
  CHECK(Find(es, "etc/link")->symlink == "passwd");
  CHECK(S_ISFIFO(Find(es, "fifo")->mode));
  CHECK(S_ISCHR(Find(es, "null")->mode));
  CHECK(Find(es, "null")->rdev_major == 1);
  CHECK(Find(es, "null")->rdev_minor == 3);
  CHECK(S_ISBLK(Find(es, "blk")->mode));
  CHECK(Find(es, "blk")->rdev_minor == 42);
  CHECK((Find(es, "etc/suid")->mode & 07777) == 04755);
  CHECK(Find(es, "etc/suid")->xattrs.count("security.capability") == 1);
  CHECK((Find(es, "etc/sgid")->mode & 07777) == 02711);
  CHECK(Find(es, "etc/sgid")->uid == 1234);
  CHECK(Find(es, "etc/sgid")->gid == 5678);
  CHECK((Find(es, "tmp/")->mode & 07777) == 01777);
  // xattrs travel in SCHILY.xattr pax records (what Docker and containerd read).
  CHECK(out.bytes.find("SCHILY.xattr.user.note=hi") != std::string::npos);
  CHECK(out.bytes.find("LIBARCHIVE.xattr") == std::string::npos);
}

TEST_CASE("differ: clamp_mtime clamps newer timestamps only") {
  TempDir t;
  WriteFile(t / "old", "o");
  WriteFile(t / "new", "n");
  SetTimes(t / "old", 100);
  SetTimes(t / "new", 2000000000);
  DiffOptions opts;
  opts.compression = Compression::kNone;
  opts.clamp_mtime = 1000;
  auto es = ReadTar(DiffDir(t.path(), opts).bytes);
  CHECK(Find(es, "old")->mtime == 100);
  CHECK(Find(es, "new")->mtime == 1000);
}

TEST_CASE("differ: whiteouts and opaque dirs become .wh. entries, overlay xattrs never leak") {
  TempDir t;
  REQUIRE(::mkdir((t / "d").c_str(), 0755) == 0);
  REQUIRE(::mknod((t / "gone").c_str(), S_IFCHR, makedev(0, 0)) == 0);
  REQUIRE(::mknod((t / "d/gone2").c_str(), S_IFCHR, makedev(0, 0)) == 0);
  REQUIRE(::link((t / "gone").c_str(), (t / "gone3").c_str()) == 0);  // shared whiteout inode
  REQUIRE(::setxattr((t / "d").c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0);
  REQUIRE(::setxattr((t / "d").c_str(), "trusted.overlay.origin", "zz", 2, 0) == 0);
  WriteFile(t / "d/kept", "k");
  DiffOptions opts;
  opts.compression = Compression::kNone;
  DiffOut out = DiffDir(t.path(), opts);
  auto es = ReadTar(out.bytes);
  std::vector<std::string> want = {".wh.gone", ".wh.gone3", "d/", "d/.wh..wh..opq",
                                   "d/.wh.gone2", "d/kept"};
  CHECK(Paths(es) == want);
  for (const auto& e : es) {
    if (e.path.find(".wh.") == std::string::npos) continue;
    CHECK(S_ISREG(e.mode));
    CHECK(e.size == 0);
    CHECK(e.hardlink.empty());
  }
  CHECK(Find(es, "d/")->xattrs.empty());
  CHECK(out.bytes.find("trusted.overlay") == std::string::npos);
}

TEST_CASE("differ: same tree gives the same bytes; atime/ctime do not matter") {
  TempDir t;
  BuildRichTree(t.path());
  WriteFile(t / "big", std::string(3 << 20, 'x') + "tail", 0644);
  TempDir copy;
  REQUIRE(Sh("cp -a '" + t.path() + "/.' '" + copy.path() + "/'") == 0);
  REQUIRE(Sh("touch -a -d @12345 '" + copy.path() + "/big' '" + copy.path() + "/etc/passwd'") == 0);
  CHECK(DescribeTree(t.path()) == DescribeTree(copy.path()));
  for (Compression c : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    DiffOptions opts;
    opts.compression = c;
    DiffOut a = DiffDir(t.path(), opts);
    DiffOut b = DiffDir(t.path(), opts);
    DiffOut c2 = DiffDir(copy.path(), opts);
    CHECK(a.bytes == b.bytes);
    CHECK(a.blob.digest == c2.blob.digest);
    CHECK(a.blob.diff_id == c2.blob.diff_id);
    CHECK(a.blob.diff_id == Sha256Of(DiffDir(t.path(), DiffOptions{Compression::kNone, {}}).bytes));
  }
}

TEST_CASE("differ: gzip header has no name and no timestamp; gzip and zstd are thread-count independent") {
  TempDir t;
  WriteFile(t / "f", std::string(5 << 20, 'a') + "b");
  DiffOut gz = DiffDir(t.path(), DiffOptions{Compression::kGzip, {}});
  REQUIRE(gz.bytes.size() > 10);
  CHECK(static_cast<unsigned char>(gz.bytes[0]) == 0x1f);
  CHECK(static_cast<unsigned char>(gz.bytes[1]) == 0x8b);
  CHECK((gz.bytes[3] & 0x08) == 0);         // FNAME
  CHECK(gz.bytes.substr(4, 4) == std::string(4, '\0'));  // MTIME
  CHECK(gz.blob.media_type == "application/vnd.oci.image.layer.v1.tar+gzip");
  // 5 MiB: several parallel gzip blocks.
  for (int threads : {1, 2, 8}) {
    DiffOptions g{Compression::kGzip, {}};
    g.threads = threads;
    DiffOut o = DiffDir(t.path(), g);
    CHECK(o.bytes == gz.bytes);
    CHECK(o.blob.digest == gz.blob.digest);
  }
  CHECK(gz.blob.digest == Sha256Of(gz.bytes));
  auto gzes = ReadTar(gz.bytes);
  REQUIRE(gzes.size() == 1);
  CHECK(gzes[0].data == std::string(5 << 20, 'a') + "b");
  DiffOptions z1{Compression::kZstd, {}};
  z1.threads = 1;
  DiffOptions z4 = z1;
  z4.threads = 4;
  DiffOut a = DiffDir(t.path(), z1);
  DiffOut b = DiffDir(t.path(), z4);
  CHECK(a.bytes.substr(0, 4) == "\x28\xb5\x2f\xfd");
  CHECK(a.blob.digest == b.blob.digest);
  CHECK(a.blob.diff_id == gz.blob.diff_id);
  CHECK(a.blob.media_type == "application/vnd.oci.image.layer.v1.tar+zstd");
  auto es = ReadTar(a.bytes);
  REQUIRE(es.size() == 1);
  CHECK(es[0].data.size() == (5u << 20) + 1);
}

TEST_CASE("differ: errors name the directory") {
  UniqueFd fd = MemFile();
  auto r = snapshotter::NewTarDiffer()->Diff("/nonexistent/cb-dir", fd.get(), {});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.find("/nonexistent/cb-dir") != std::string::npos);
}

namespace {

long MaxRssKb() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

}  // namespace

TEST_CASE("differ: sparse files keep their holes and memory stays bounded") {
  TempDir t;
  {
    UniqueFd fd(::open((t / "small").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    REQUIRE(::pwrite(fd.get(), "head", 4, 0) == 4);
    REQUIRE(::pwrite(fd.get(), "mid", 3, 5 << 20) == 3);
    REQUIRE(::ftruncate(fd.get(), 9 << 20) == 0);
  }
  DiffOut small = DiffDir(t.path(), DiffOptions{Compression::kNone, {}});
  auto es = ReadTar(small.bytes);
  REQUIRE(es.size() == 1);
  CHECK(es[0].sparse);
  CHECK(es[0].size == 9 << 20);
  CHECK(es[0].data.substr(0, 4) == "head");
  CHECK(es[0].data.substr(5 << 20, 3) == "mid");
  CHECK(small.bytes.size() < (1u << 20));  // holes are not stored

  constexpr int64_t kBig = int64_t{4} << 30;
  {
    UniqueFd fd(::open((t / "big").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    std::string chunk(8 << 20, 'z');
    REQUIRE(::pwrite(fd.get(), chunk.data(), chunk.size(), 1 << 30) ==
            static_cast<ssize_t>(chunk.size()));
    REQUIRE(::ftruncate(fd.get(), kBig) == 0);
  }
  ::unlink((t / "small").c_str());
  long before = MaxRssKb();
  UniqueFd out = MemFile();
  DiffOptions opts{Compression::kGzip, {}};
  auto r = snapshotter::NewTarDiffer()->Diff(t.path(), out.get(), opts);
  REQUIRE(r.has_value());
  long grown_mb = (MaxRssKb() - before) / 1024;
  MESSAGE("4 GiB sparse file: layer " << r->size << " bytes, max RSS grew " << grown_mb << " MiB");
  CHECK(grown_mb < 64);
  CHECK(r->size < (2 << 20));
}

TEST_CASE("differ: non-ASCII and long names survive") {
  TempDir t;
  std::string long_name(200, 'n');
  REQUIRE(::mkdir((t / long_name).c_str(), 0755) == 0);
  WriteFile(t / (long_name + "/" + long_name), "deep");
  WriteFile(t / "caf\xc3\xa9", "utf8");
  WriteFile(t / "raw\xff", "not utf8");
  auto es = ReadTar(DiffDir(t.path(), DiffOptions{Compression::kNone, {}}).bytes);
  REQUIRE(es.size() == 4);
  CHECK(Find(es, long_name + "/" + long_name) != nullptr);
  CHECK(Find(es, "caf\xc3\xa9") != nullptr);
  CHECK(Find(es, "raw\xff") != nullptr);
}
