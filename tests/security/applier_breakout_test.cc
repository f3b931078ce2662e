// Breakout suite for the layer Applier: hostile archives must never touch anything outside the
// target directory. Every case runs next to a sibling "victim" directory whose files, modes,
// owners and mtimes are compared before and after; each case must fail with a message naming
// the offending entry, or be contained inside the target (as Docker does for absolute paths).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <iterator>

#include <doctest/doctest.h>

#include "common/digest.h"
#include "common/fs.h"
#include "snapshotter/applier.h"
#include "tests/security/tar_builder.h"
#include "tests/snapshotter/tar_test_util.h"

using namespace cb;
using cb::sectest::TarBuilder;
using cb::tartest::DescribeTree;
using cb::tartest::TempDir;
using snapshotter::ApplyOptions;
using snapshotter::Compression;

namespace {

enum class Expect { kError, kContained, kEither };

// base/target (where layers go) and base/victim (must never change).
class Arena {
 public:
  Arena() {
    REQUIRE(::mkdir((base_ / "victim").c_str(), 0755) == 0);
    REQUIRE(::mkdir((base_ / "victim/dir").c_str(), 0750) == 0);
    tartest::WriteFile(base_ / "victim/secret", "secret", 0600);
    tartest::WriteFile(base_ / "victim/dir/inner", "inner", 0640);
    tartest::SetTimes(base_ / "victim/secret", 1000);
    tartest::SetTimes(base_ / "victim/dir/inner", 2000);
    tartest::SetTimes(base_ / "victim/dir", 3000);
    tartest::SetTimes(base_ / "victim", 4000);
    before_ = Snapshot();
  }

  std::string victim() const { return base_ / "victim"; }
  std::string target() const { return base_ / "target"; }

  /// Applies `bytes` into a fresh target and checks the victim and the host afterwards.
  Result<snapshotter::ApplyResult> Apply(const std::string& bytes, ApplyOptions opts = {}) {
    (void)fs::RemoveTree(target());
    REQUIRE(::mkdir(target().c_str(), 0755) == 0);
    UniqueFd fd = tartest::MemFile();
    REQUIRE(::write(fd.get(), bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    REQUIRE(::lseek(fd.get(), 0, SEEK_SET) == 0);
    size_t fds_before = OpenFds();
    auto r = snapshotter::NewTarApplier()->Apply(fd.get(), target(), opts);
    CHECK(OpenFds() == fds_before);  // no fd leaks, on success or failure
    CHECK(Snapshot() == before_);
    CHECK_FALSE(fs::Exists("/cb-breakout"));
    CHECK_FALSE(fs::Exists("/tmp/cb-breakout"));
    CHECK_FALSE(fs::Exists(base_ / "cb-breakout"));
    return r;
  }

  /// Runs one case and checks the outcome.
  void Case(const std::string& bytes, Expect expect, const std::string& entry,
            ApplyOptions opts = {}) {
    auto r = Apply(bytes, opts);
    if (!r) MESSAGE("refused: " << r.error().message);
    if (expect == Expect::kError) REQUIRE_FALSE(r.has_value());
    if (expect == Expect::kContained) {
      REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
    }
    if (!r) {
      CHECK_MESSAGE(r.error().message.find("`" + entry + "`") != std::string::npos,
                    "error must name entry `" << entry << "`: " << r.error().message);
    }
  }

 private:
  static size_t OpenFds() {
    auto names = std::filesystem::directory_iterator("/proc/self/fd");
    return static_cast<size_t>(std::distance(begin(names), end(names)));
  }

  std::string Snapshot() const {
    struct stat st;
    REQUIRE(::lstat(victim().c_str(), &st) == 0);
    std::string top = fmt::format("victim mode={:o} mtime={} nlink={}\n", st.st_mode,
                                  st.st_mtim.tv_sec, st.st_nlink);
    REQUIRE(::lstat((victim() + "/dir").c_str(), &st) == 0);
    top += fmt::format("dir mtime={}\n", st.st_mtim.tv_sec);
    REQUIRE(::lstat((victim() + "/secret").c_str(), &st) == 0);
    top += fmt::format("secret nlink={} ino={}\n", st.st_nlink, st.st_ino);
    return top + DescribeTree(victim());
  }

  TempDir base_{"cb-breakout-"};
  std::string before_;
};

}  // namespace

TEST_CASE("breakout: ../ in an entry name") {
  Arena a;
  a.Case(TarBuilder().File("../victim/secret", "pwned").Finish(), Expect::kError,
         "../victim/secret");
  a.Case(TarBuilder().Dir("sub/").File("sub/../../victim/secret", "pwned").Finish(),
         Expect::kError, "sub/../../victim/secret");
  a.Case(TarBuilder().File("./../victim/new", "pwned").Finish(), Expect::kError,
         "./../victim/new");
  // ".." that stays inside is cleaned like Docker does.
  a.Case(TarBuilder().File("sub/../inside", "ok").Finish(), Expect::kContained, "");
  CHECK(tartest::ReadAll(a.target() + "/inside") == "ok");
}

TEST_CASE("breakout: absolute paths are read as relative to the target") {
  Arena a;
  std::string abs = a.victim() + "/secret";
  a.Case(TarBuilder().File(abs, "contained").File("/cb-breakout", "x").Finish(),
         Expect::kContained, "");
  CHECK(tartest::ReadAll(a.target() + abs) == "contained");
  CHECK(tartest::ReadAll(a.target() + "/cb-breakout") == "x");
}

TEST_CASE("breakout: a file written through a symlink that points outside") {
  Arena a;
  for (const std::string& link : {std::string("../victim"), a.victim(), std::string("../../..") +
                                   a.victim()}) {
    CAPTURE(link);
    a.Case(TarBuilder().Symlink("evil", link).File("evil/secret", "pwned").Finish(),
           Expect::kEither, "evil/secret");
    a.Case(TarBuilder().Symlink("evil", link).File("evil/dir/inner", "pwned").Finish(),
           Expect::kEither, "evil/dir/inner");
    a.Case(TarBuilder().Symlink("evil", link).Dir("evil/newdir/").Finish(), Expect::kEither,
           "evil/newdir/");
  }
  // Two-step: a symlinked directory, then a symlink inside it, then a file through both.
  a.Case(TarBuilder()
             .Dir("d/")
             .Symlink("d/up", "..")
             .Symlink("d/up2", "../d/up/..")
             .File("d/up2/cb-breakout", "contained")
             .Finish(),
         Expect::kEither, "d/up2/cb-breakout");
}

TEST_CASE("breakout: symlink to / then files below it stay in the target") {
  Arena a;
  std::string rel_victim = a.victim().substr(1);
  a.Case(TarBuilder()
             .Symlink("root", "/")
             .File("root/" + rel_victim + "/secret", "contained")
             .File("root/cb-breakout", "contained")
             .Finish(),
         Expect::kContained, "");
  CHECK(tartest::ReadAll(a.target() + "/" + rel_victim + "/secret") == "contained");
  a.Case(TarBuilder().Symlink("up", "../../../../../../..").File("up/cb-breakout", "c").Finish(),
         Expect::kContained, "");
  CHECK(tartest::ReadAll(a.target() + "/cb-breakout") == "c");
}

TEST_CASE("breakout: hard links to outside or through a symlink") {
  Arena a;
  a.Case(TarBuilder().Hardlink("h", "../victim/secret").Finish(), Expect::kError, "h");
  a.Case(TarBuilder().Hardlink("h", a.victim() + "/secret").Finish(), Expect::kError, "h");
  a.Case(TarBuilder().Symlink("s", a.victim()).Hardlink("h", "s/secret").Finish(),
         Expect::kError, "h");
  a.Case(TarBuilder().Symlink("s", "../victim").Hardlink("h", "s/secret").Finish(),
         Expect::kError, "h");
  // Linking to a symlink links the symlink itself; writing "h" afterwards replaces it.
  a.Case(TarBuilder()
             .Symlink("s", a.victim() + "/secret")
             .Hardlink("h", "s")
             .File("h", "pwned")
             .File("s", "pwned")
             .Finish(),
         Expect::kContained, "");
  a.Case(TarBuilder().Hardlink("h", "h").Finish(), Expect::kError, "h");
  a.Case(TarBuilder().Dir("d/").Hardlink("h", "d").Finish(), Expect::kError, "h");
}

TEST_CASE("breakout: whiteouts of `..`, `.` and through symlinks") {
  Arena a;
  for (bool overlay : {true, false}) {
    CAPTURE(overlay);
    ApplyOptions opts;
    opts.overlay_whiteouts = overlay;
    a.Case(TarBuilder().File(".wh...", "").Finish(), Expect::kError, ".wh...", opts);
    a.Case(TarBuilder().Dir("sub/").File("sub/.wh...", "").Finish(), Expect::kError,
           "sub/.wh...", opts);
    a.Case(TarBuilder().File(".wh..", "").Finish(), Expect::kError, ".wh..", opts);
    a.Case(TarBuilder().File("../.wh.victim", "").Finish(), Expect::kError, "../.wh.victim",
           opts);
    a.Case(TarBuilder().Symlink("s", a.victim()).File("s/.wh.secret", "").Finish(),
           Expect::kEither, "s/.wh.secret", opts);
    a.Case(TarBuilder().Symlink("s", "../victim").File("s/.wh..wh..opq", "").Finish(),
           Expect::kEither, "s/.wh..wh..opq", opts);
    a.Case(TarBuilder().Symlink("s", a.victim()).File("s/dir/.wh..wh..opq", "").Finish(),
           Expect::kEither, "s/dir/.wh..wh..opq", opts);
  }
}

TEST_CASE("breakout: chmod, chown and utimes never go through a symlink") {
  Arena a;
  a.Case(TarBuilder()
             .Symlink("f", a.victim() + "/secret")
             .File("f", "replaced", 04777)
             .Finish(),
         Expect::kContained, "");
  a.Case(TarBuilder().Symlink("d", a.victim() + "/dir").Dir("d/", 0777).Finish(),
         Expect::kContained, "");
  a.Case(TarBuilder().Symlink("d", "../victim").Dir("d", 0777).Finish(), Expect::kContained,
         "");
  a.Case(TarBuilder().Symlink("c", a.victim() + "/secret").CharDev("c", 1, 3).Finish(),
         Expect::kContained, "");
  // The root entry itself ("./") only ever changes the target.
  a.Case(TarBuilder().Dir("./", 0700).Finish(), Expect::kContained, "");
  struct stat st;
  REQUIRE(::stat(a.target().c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
}

TEST_CASE("breakout: decompression bombs over the cap") {
  Arena a;
  for (Compression c : {Compression::kGzip, Compression::kZstd, Compression::kNone}) {
    CAPTURE(static_cast<int>(c));
    std::string bomb = TarBuilder().File("small", "x").Zeros("bomb", int64_t{64} << 20).Finish(c);
    if (c != Compression::kNone) CHECK(bomb.size() < (1u << 20));
    ApplyOptions opts;
    opts.max_uncompressed_bytes = 8 << 20;
    auto r = a.Apply(bomb, opts);
    REQUIRE_FALSE(r.has_value());
    MESSAGE(r.error().message);
    CHECK(r.error().message.find("`bomb`") != std::string::npos);
    CHECK(r.error().message.find("cap") != std::string::npos);
    struct stat st;
    if (::stat((a.target() + "/bomb").c_str(), &st) == 0) CHECK(st.st_size <= (8 << 20));
  }
  // Under the cap the same archive applies.
  ApplyOptions big;
  big.max_uncompressed_bytes = 128 << 20;
  auto ok = a.Apply(TarBuilder().Zeros("bomb", int64_t{64} << 20).Finish(Compression::kGzip), big);
  CHECK(ok.has_value());
}

TEST_CASE("breakout: wrong diff_id") {
  Arena a;
  std::string tar = TarBuilder().File("f", "data").Finish(Compression::kGzip);
  ApplyOptions opts;
  opts.expected_diff_id = Sha256Of("not this layer");
  auto r = a.Apply(tar, opts);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == ErrorCode::kCorrupt);
  CHECK(r.error().message.find(opts.expected_diff_id->ToString()) != std::string::npos);
  CHECK(r.error().message.find(Sha256Of(TarBuilder().File("f", "data").Finish()).ToString()) !=
        std::string::npos);
}

TEST_CASE("breakout: symlink loops, files used as dirs, device nodes") {
  Arena a;
  a.Case(TarBuilder().Symlink("x", "y").Symlink("y", "x").File("x/f", "").Finish(),
         Expect::kError, "x/f");
  a.Case(TarBuilder().File("f", "").File("f/g", "").Finish(), Expect::kError, "f/g");
  a.Case(TarBuilder().CharDev("null", 1, 3).Finish(), Expect::kContained, "");
  struct stat st;
  REQUIRE(::lstat((a.target() + "/null").c_str(), &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
}
