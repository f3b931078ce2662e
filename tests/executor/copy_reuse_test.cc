// COPY with reuse (executor/copy_op.h): files unchanged since the previous build of the step are
// left pending by CopyFromContext and hard-linked by LinkUnchanged, or copied when the previous
// file does not have what a copy would write. Plain directories stand in for the overlay mount
// and the upper dir (the copy-up is then a no-op chown).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/fs.h"
#include "common/rooted.h"
#include "executor/copy_op.h"

namespace cb::executor {
namespace {

namespace stdfs = std::filesystem;

void Write(const stdfs::path& p, const std::string& text) {
  stdfs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string Read(const stdfs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

UniqueFd OpenDir(const std::string& path) {
  auto r = rooted::OpenRoot(path);
  REQUIRE(r);
  return std::move(*r);
}

ino_t Inode(const stdfs::path& p) {
  struct stat st;
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_ino;
}

struct Fixture {
  stdfs::path dir;
  UniqueFd ctx;
  CopyReuse reuse;

  Fixture() {
    dir = *fs::MakeTempDir("/tmp", "cb-copy-reuse-");
    Write(dir / "ctx/src/a.txt", "a\n");
    Write(dir / "ctx/src/b.txt", "b\n");
    Write(dir / "ctx/src/sub/c.txt", "c\n");
    stdfs::create_directories(dir / "prev");
    stdfs::create_directories(dir / "new");
    ctx = OpenDir((dir / "ctx").string());
    // The previous build: a plain copy.
    UniqueFd prev = OpenDir((dir / "prev").string());
    REQUIRE(CopyFromContext(Request(), prev.get()));
    reuse.prev_dir = (dir / "prev").string();
    reuse.same = {"src/a.txt", "src/sub/c.txt"};
  }
  ~Fixture() { stdfs::remove_all(dir); }

  CopyRequest Request() const {
    CopyRequest r;
    r.context_fd = ctx.get();
    r.sources = {"src"};
    r.dest = "/app";
    return r;
  }

  /// First pass into new/ with reuse; pending files are left in `plan`.
  CopyRequest FirstPass(CopyPlan& plan) {
    CopyRequest r = Request();
    r.reuse = &reuse;
    UniqueFd root = OpenDir((dir / "new").string());
    REQUIRE(CopyFromContext(r, root.get(), &plan));
    return r;
  }
};

TEST_CASE("unchanged files are left pending, then linked from the previous layer") {
  Fixture f;
  Write(f.dir / "ctx/src/b.txt", "b changed\n");
  CopyPlan plan;
  CopyRequest r = f.FirstPass(plan);
  REQUIRE(plan.pending.size() == 2);
  CHECK(plan.pending.count("/app/a.txt") == 1);
  CHECK(plan.pending.count("/app/sub/c.txt") == 1);
  CHECK(!stdfs::exists(f.dir / "new/app/a.txt"));           // not written in the first pass
  CHECK(Read(f.dir / "new/app/b.txt") == "b changed\n");    // changed: copied
  UniqueFd upper = OpenDir((f.dir / "new").string());
  REQUIRE(LinkUnchanged(r, plan, upper.get()));
  CHECK(plan.linked == 2);
  CHECK(plan.copied == 0);
  CHECK(Inode(f.dir / "new/app/a.txt") == Inode(f.dir / "prev/app/a.txt"));
  CHECK(Inode(f.dir / "new/app/sub/c.txt") == Inode(f.dir / "prev/app/sub/c.txt"));
  CHECK(Read(f.dir / "new/app/sub/c.txt") == "c\n");
}

TEST_CASE("a previous file without the mtime, mode or owner a copy would write is copied, not linked") {
  Fixture f;
  struct timespec ts[2] = {{5, 0}, {5, 0}};
  REQUIRE(::utimensat(AT_FDCWD, (f.dir / "prev/app/sub/c.txt").c_str(), ts, 0) == 0);
  REQUIRE(::chmod((f.dir / "prev/app/a.txt").c_str(), 0600) == 0);
  CopyPlan plan;
  CopyRequest r = f.FirstPass(plan);
  UniqueFd upper = OpenDir((f.dir / "new").string());
  REQUIRE(LinkUnchanged(r, plan, upper.get()));
  CHECK(plan.linked == 0);
  CHECK(plan.copied == 2);
  CHECK(Inode(f.dir / "new/app/a.txt") != Inode(f.dir / "prev/app/a.txt"));
  struct stat src, dst;
  REQUIRE(::stat((f.dir / "ctx/src/a.txt").c_str(), &src) == 0);
  REQUIRE(::stat((f.dir / "new/app/a.txt").c_str(), &dst) == 0);
  CHECK((dst.st_mode & 07777) == (src.st_mode & 07777));
  CHECK(dst.st_mtim.tv_sec == src.st_mtim.tv_sec);
  CHECK(Read(f.dir / "new/app/sub/c.txt") == "c\n");
}

TEST_CASE("a pending link replaces what an earlier source wrote at its target; a later write cancels it") {
  Fixture f;
  CopyPlan plan;
  CopyRequest r = f.FirstPass(plan);
  Write(f.dir / "new/app/a.txt", "written earlier\n");
  UniqueFd upper = OpenDir((f.dir / "new").string());
  REQUIRE(LinkUnchanged(r, plan, upper.get()));
  CHECK(Read(f.dir / "new/app/a.txt") == "a\n");
  CHECK(Inode(f.dir / "new/app/a.txt") == Inode(f.dir / "prev/app/a.txt"));

  // Two sources onto one directory: the second writes a.txt after the first left it pending.
  Write(f.dir / "ctx/other/a.txt", "from other\n");
  stdfs::remove_all(f.dir / "new");
  stdfs::create_directories(f.dir / "new");
  CopyRequest two = f.Request();
  two.sources = {"src", "other"};
  two.dest = "/app";
  two.dest_is_dir = true;
  two.reuse = &f.reuse;
  CopyPlan plan2;
  UniqueFd root = OpenDir((f.dir / "new").string());
  REQUIRE(CopyFromContext(two, root.get(), &plan2));
  CHECK(plan2.pending.count("/app/a.txt") == 0);
  REQUIRE(LinkUnchanged(two, plan2, root.get()));
  CHECK(Read(f.dir / "new/app/a.txt") == "from other\n");
}

TEST_CASE("a parent directory missing from the new layer is an error (the step is then copied in full)") {
  Fixture f;
  CopyPlan plan;
  CopyRequest r = f.FirstPass(plan);
  stdfs::remove_all(f.dir / "new/app/sub");
  stdfs::create_directory_symlink(f.dir / "elsewhere", f.dir / "new/app/sub");
  UniqueFd upper = OpenDir((f.dir / "new").string());
  auto st = LinkUnchanged(r, plan, upper.get());
  REQUIRE(!st);
  CHECK(st.error().message.find("/app/sub/c.txt") != std::string::npos);
  CHECK(!stdfs::exists(f.dir / "elsewhere"));  // nothing followed the symlink
}

}  // namespace
}  // namespace cb::executor

namespace cb::executor {
namespace {

TEST_CASE("with reuse, a write through a symlink in the destination is an error (two paths, one file)") {
  // The image has /app/v1/ and /app/current -> v1; COPY --parents v1/ current/ /app/ writes
  // current/cfg into /app/v1/cfg after v1/cfg was left pending under "/app/v1/cfg": matching
  // the two by path would link the older content over the later write. The pass must fail
  // (the builder then copies the step in full).
  auto dir = stdfs::path(*fs::MakeTempDir("/tmp", "cb-copy-reuse-"));
  Write(dir / "ctx/v1/cfg", "v1 cfg\n");
  Write(dir / "ctx/current/cfg", "current cfg\n");
  stdfs::create_directories(dir / "new/app/v1");
  stdfs::create_directory_symlink("v1", dir / "new/app/current");
  UniqueFd ctx = OpenDir((dir / "ctx").string());
  UniqueFd root = OpenDir((dir / "new").string());
  CopyReuse reuse;
  reuse.prev_dir = (dir / "new").string();
  reuse.same = {"v1/cfg"};
  CopyRequest r;
  r.context_fd = ctx.get();
  r.sources = {"v1", "current"};
  r.dest = "/app";
  r.dest_is_dir = true;
  r.parents = true;
  r.reuse = &reuse;
  CopyPlan plan;
  auto st = CopyFromContext(r, root.get(), &plan);
  REQUIRE(!st);
  CHECK(st.error().message.find("/app/current") != std::string::npos);
  // Without reuse the same COPY writes through the link, as Docker does.
  stdfs::remove_all(dir / "new/app/v1/cfg");
  r.reuse = nullptr;
  REQUIRE(CopyFromContext(r, root.get()));
  CHECK(Read(dir / "new/app/v1/cfg") == "current cfg\n");
  stdfs::remove_all(dir);
}

TEST_CASE("with reuse, a destination that is not a clean path is an error") {
  Fixture f;
  CopyRequest r = f.Request();
  r.dest = "/app/x/..";
  r.reuse = &f.reuse;
  CopyPlan plan;
  UniqueFd root = OpenDir((f.dir / "new").string());
  auto st = CopyFromContext(r, root.get(), &plan);
  REQUIRE(!st);
  CHECK(st.error().message.find("not a clean path") != std::string::npos);
}

}  // namespace
}  // namespace cb::executor
