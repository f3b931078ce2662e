#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
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
