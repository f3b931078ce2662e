#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/fs.h"
#include "common/result.h"
#include "common/rooted.h"

using namespace cb;

namespace {

Result<int> Half(int x) {
  if (x % 2) return MakeError(ErrorCode::kInvalidArgument, "{} is odd", x);
  return x / 2;
}

Result<int> Quarter(int x) {
  int h = CB_TRY(Half(x));
  return CB_TRY_CTX(Half(h), "halving {}", h);
}

}  // namespace

TEST_CASE("Result and CB_TRY pass values and errors through") {
  CHECK(*Quarter(8) == 2);
  auto e = Quarter(6);
  REQUIRE_FALSE(e);
  CHECK(e.error().code == ErrorCode::kInvalidArgument);
  CHECK(e.error().message == "halving 3: 3 is odd");
  Error located{ErrorCode::kSyntax, "bad", SourceLocation{"Dockerfile", 3, 5}, 0};
  CHECK(located.ToString() == "Dockerfile:3:5: bad");
}

TEST_CASE("SHA-256 digests match known values and parse strictly") {
  CHECK(Sha256Of("").ToString() == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256Of("abc").Hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 h;
  h.Update("a");
  h.Update("bc");
  CHECK(h.Finish() == Sha256Of("abc"));
  CHECK(Digest::Parse("sha256:" + std::string(64, 'a')));
  CHECK_FALSE(Digest::Parse("sha256:" + std::string(63, 'a')));
  CHECK_FALSE(Digest::Parse("sha256:" + std::string(64, 'A')));
  CHECK_FALSE(Digest::Parse("md5:" + std::string(64, 'a')));
}

TEST_CASE("WriteFileAtomic replaces content and leaves no temp files") {
  auto dir = fs::MakeTempDir("/tmp", "cb-common-test-");
  REQUIRE(dir);
  std::string p = *dir + "/f";
  REQUIRE(fs::WriteFileAtomic(p, "one"));
  REQUIRE(fs::WriteFileAtomic(p, "two", 0600));
  CHECK(*fs::ReadFile(p) == "two");
  struct stat st;
  REQUIRE(::stat(p.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(fs::ReadFile(*dir + "/missing").error().code == ErrorCode::kNotFound);
  CHECK(fs::RemoveTree(*dir));
  CHECK_FALSE(fs::Exists(*dir));
}

TEST_CASE("rooted paths never leave their root") {
  auto dir = fs::MakeTempDir("/tmp", "cb-rooted-test-");
  REQUIRE(dir);
  REQUIRE(fs::MakeDirs(*dir + "/root/sub"));
  REQUIRE(fs::WriteFileAtomic(*dir + "/outside", "secret"));
  REQUIRE(::symlink("/", (*dir + "/root/sub/up").c_str()) == 0);
  REQUIRE(::symlink("../../outside", (*dir + "/root/rel").c_str()) == 0);
  auto root = rooted::OpenRoot(*dir + "/root");
  REQUIRE(root);
  // "/" inside the root is the root; ".." cannot climb out; symlinks resolve inside.
  CHECK(rooted::Open(root->get(), "../outside", O_RDONLY).error().code == ErrorCode::kNotFound);
  CHECK(rooted::Open(root->get(), "rel", O_RDONLY).error().code == ErrorCode::kNotFound);
  auto made = rooted::MkdirAll(root->get(), "sub/up/tmp/new", 0755, 0, 0);
  REQUIRE(made);
  CHECK(fs::Exists(*dir + "/root/tmp/new"));  // "up" → "/" meant the root, not the host's /
  CHECK_FALSE(fs::Exists("/tmp/new"));
  std::vector<std::string> seen;
  REQUIRE(rooted::Walk(root->get(), [&](const rooted::WalkEntry& e) {
    seen.push_back(e.rel);
    return Ok();
  }));
  CHECK(seen == std::vector<std::string>{"rel", "sub", "sub/up", "tmp", "tmp/new"});
  CHECK(fs::RemoveTree(*dir));
}

TEST_CASE("ReadRegularFile never waits on a FIFO nor reads a device, and caps the size") {
  auto dir = fs::MakeTempDir("/tmp", "cb-rooted-read-");
  REQUIRE(dir);
  REQUIRE(fs::MakeDirs(*dir + "/etc"));
  REQUIRE(fs::WriteFileAtomic(*dir + "/etc/passwd", "root:x:0:0::/root:/bin/sh\n"));
  REQUIRE(::mkfifo((*dir + "/etc/fifo").c_str(), 0644) == 0);
  REQUIRE(::symlink("/etc/passwd", (*dir + "/etc/link").c_str()) == 0);
  bool root_user = ::geteuid() == 0;
  if (root_user) REQUIRE(::mknod((*dir + "/etc/zero").c_str(), S_IFCHR | 0644, makedev(1, 5)) == 0);
  auto root = rooted::OpenRoot(*dir);
  REQUIRE(root);
  CHECK(*rooted::ReadRegularFile(root->get(), "/etc/passwd", 1024) == "root:x:0:0::/root:/bin/sh\n");
  CHECK(*rooted::ReadRegularFile(root->get(), "/etc/link", 1024) == "root:x:0:0::/root:/bin/sh\n");  // in the root
  auto fifo = rooted::ReadRegularFile(root->get(), "/etc/fifo", 1024);  // returns at once
  REQUIRE_FALSE(fifo);
  CHECK(fifo.error().message == "`/etc/fifo` is a named pipe, not a regular file");
  if (root_user) {
    auto zero = rooted::ReadRegularFile(root->get(), "/etc/zero", 1024);
    REQUIRE_FALSE(zero);
    CHECK(zero.error().message == "`/etc/zero` is a character device, not a regular file");
  }
  auto dir_read = rooted::ReadRegularFile(root->get(), "/etc", 1024);
  CHECK(dir_read.error().message == "`/etc` is a directory, not a regular file");
  auto big = rooted::ReadRegularFile(root->get(), "/etc/passwd", 8);
  CHECK(big.error().message == "`/etc/passwd` is larger than 8 bytes");
  CHECK(rooted::ReadRegularFile(root->get(), "/etc/missing", 8).error().code == ErrorCode::kNotFound);
  struct stat st;
  auto path_fd = rooted::OpenForRead(root->get(), "etc/fifo", &st);  // O_PATH: usable for fstat only
  REQUIRE(path_fd);
  CHECK(S_ISFIFO(st.st_mode));
  char c;
  CHECK(::read(path_fd->get(), &c, 1) < 0);
  CHECK(fs::RemoveTree(*dir));
}
