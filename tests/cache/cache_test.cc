// BlobStore robustness (corruption, stale ingests, root lock) and the gc planning rules.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache/blob_store.h"
#include "cache/gc.h"
#include "cache/lease.h"
#include "common/fs.h"
#include "tests/cache/temp_root.h"

using namespace cb;
using namespace cb::cache;

namespace {
using testing::TempRoot;
Digest D(char c) { return *Digest::Parse("sha256:" + std::string(64, c)); }
}  // namespace

TEST_CASE("a corrupted blob is detected on Get, Open and Verify, reported with its digest, and dropped") {
  TempRoot r;
  auto bs = std::move(BlobStore::Open(r.dir)).value();
  for (int which = 0; which < 3; ++which) {
    Digest d = *bs->Put("hello blob " + std::to_string(which));
    REQUIRE(fs::WriteFileAtomic(bs->PathOf(d), "evil bytes").has_value());
    Error e;
    if (which == 0) e = bs->Get(d).error();
    if (which == 1) e = bs->Open(d).error();
    if (which == 2) e = bs->Verify(d).error();
    CHECK(e.code == ErrorCode::kCorrupt);
    CHECK(e.message.find(d.ToString()) != std::string::npos);
    CHECK_FALSE(bs->Has(d));
  }
  Digest good = *bs->Put("fine");
  CHECK(bs->Open(good).has_value());
}

TEST_CASE("ingest files of dead processes are removed on open; live ones stay") {
  TempRoot r;
  { auto bs = std::move(BlobStore::Open(r.dir)).value(); }
  std::string dead = r.dir + "/ingest/999999999-abcdef";  // beyond pid_max: never alive
  std::string mine = r.dir + "/ingest/" + std::to_string(::getpid()) + "-abcdef";
  REQUIRE(fs::WriteFileAtomic(dead, "partial").has_value());
  REQUIRE(fs::WriteFileAtomic(mine, "partial").has_value());
  auto bs = std::move(BlobStore::Open(r.dir)).value();
  CHECK_FALSE(fs::Exists(dead));
  CHECK(fs::Exists(mine));
  auto w = std::move(bs->NewWriter()).value();
  CHECK(fs::Exists(r.dir + "/ingest"));
}

TEST_CASE("leases: a live process's lease is seen by Live(), a dead one's is dropped; sections hold off the exclusive lock") {
  TempRoot r;
  auto a = std::move(Leases::Open(r.dir)).value();
  Digest x = D('a'), y = D('b');
  int go[2], done[2];
  REQUIRE(::pipe(go) == 0);
  REQUIRE(::pipe(done) == 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    auto b = Leases::Open(r.dir);
    char c;
    if (!b || !(*b)->Add(x)) ::_exit(1);
    {
      auto section = (*b)->Enter();
      if (!section || ::write(done[1], "1", 1) != 1) ::_exit(1);
      ::usleep(700'000);  // the parent's exclusive lock must wait for this
    }
    if (::read(go[0], &c, 1) != 1) ::_exit(1);
    ::_exit(0);  // no destructor: as if killed
  }
  char c;
  REQUIRE(::read(done[0], &c, 1) == 1);
  auto busy = a->LockExclusive(false);
  REQUIRE_FALSE(busy.has_value());
  CHECK(busy.error().code == ErrorCode::kExists);
  CHECK(a->LockExclusive(true).has_value());  // after the child's section
  REQUIRE(a->Add(y).has_value());  // no section needed under the exclusive lock
  auto live = a->Live();
  REQUIRE(live.has_value());
  CHECK(live->count(x) == 1);
  CHECK(live->count(y) == 1);
  REQUIRE(::write(go[1], "1", 1) == 1);
  int st = 0;
  ::waitpid(pid, &st, 0);
  CHECK(WEXITSTATUS(st) == 0);
  live = a->Live();
  CHECK(live->count(x) == 0);  // its process is gone
  CHECK(live->count(y) == 1);
  CHECK(fs::ListDir(r.dir + "/leases")->size() == 1);
  a->UnlockExclusive();
  a.reset();
  CHECK(fs::ListDir(r.dir + "/leases")->empty());
}

TEST_CASE("leases: blobs and metadata lease what they read and write") {
  TempRoot r;
  auto leases = std::move(Leases::Open(r.dir)).value();
  auto bs = std::move(BlobStore::Open(r.dir)).value();
  bs->set_leases(leases.get());
  std::string manifest = "{\"config\":\"" + D('c').ToString() + "\",\"layers\":[\"" + D('d').ToString() + "\"]}";
  Digest m = *bs->Put(manifest);
  CHECK(leases->Holds(m));
  // A reader in another process leases the manifest and what it names.
  auto other = std::move(Leases::Open(r.dir)).value();
  bs->set_leases(other.get());
  REQUIRE(bs->Get(m).has_value());
  CHECK(other->Holds(m));
  CHECK(other->Holds(D('c')));
  CHECK(other->Holds(D('d')));
  CHECK(DigestsIn("x sha256:" + std::string(64, 'e') + " sha256:short").size() == 1);
}

TEST_CASE("gc: a file shared by layers is freed only with its last link, and counted once") {
  // Layers A (tagged) and B (cache only) share a 1000-byte file; B and C share another.
  SharedFile ab{1, 10, 2, 1000}, bc{1, 11, 2, 500};
  GcInput in;
  in.layers[D('a')] = {D('1'), 100, true, true, {ab}};
  in.layers[D('b')] = {D('2'), 200, true, true, {ab, bc}};
  in.layers[D('c')] = {D('3'), 400, true, true, {bc}};
  in.image_layers = {D('a')};
  // --all: B and C go; the A/B file stays (A keeps a link), the B/C file goes with both.
  GcPlan all = PlanGc(in, {true, std::nullopt});
  CHECK(all.layers == std::vector<Digest>{D('b'), D('c')});
  CHECK(all.freed_bytes == 200 + 400 + 500);
  CHECK(all.total_bytes == 100 + 200 + 400 + 1000 + 500);
  Usage u = ComputeUsage(in, 1);
  CHECK(u.layers.bytes == 100 + 200 + 400 + 1000 + 500);
  CHECK(u.layers.reclaimable == 200 + 400 + 500);
}

TEST_CASE("gc: tagged images are kept, cache records keep their layers, --all and --keep-storage") {
  GcInput in;
  // Layer A: used by the tagged image. Layer B: only by cache record r1. Layer C: orphan.
  in.layers[D('a')] = {D('1'), 100, true, true, {}};
  in.layers[D('b')] = {D('2'), 200, true, true, {}};
  in.layers[D('c')] = {D('3'), 400, true, true, {}};
  in.blobs = {{D('1'), 10}, {D('2'), 20}, {D('3'), 40}, {D('9'), 5}};
  in.image_layers = {D('a')};
  in.image_blobs = {D('1'), D('9')};
  in.records = {{D('e'), "{\"diff_id\":\"" + D('b').ToString() + "\"}", 1, 1},
                {D('f'), "{}", 2, 2},
                {D('d'), "{\"diff_id\":\"" + D('0').ToString() + "\"}", 3, 3}};  // dangling
  GcPlan p = PlanGc(in, {});
  CHECK(p.records == std::vector<Digest>{D('d')});
  CHECK(p.layers == std::vector<Digest>{D('c')});
  CHECK(p.blobs == std::vector<Digest>{D('3')});
  CHECK(p.freed_bytes == 440);
  GcPlan all = PlanGc(in, {true, std::nullopt});
  CHECK(all.records.size() == 3);
  CHECK(all.layers == std::vector<Digest>{D('b'), D('c')});
  CHECK(all.freed_bytes == 660);
  // total 795; keep 400 → drop orphans (440) is not enough (355 left ≤ 400: enough, no LRU drop).
  GcPlan keep = PlanGc(in, {false, int64_t{400}});
  CHECK(keep.records.size() == 1);
  GcPlan tight = PlanGc(in, {false, int64_t{200}});
  CHECK(tight.records.size() == 2);  // r1 (least recently used) goes, then B's data
  CHECK(tight.freed_bytes == 660);
  Usage u = ComputeUsage(in, 1);
  CHECK(u.layers.total == 3);
  CHECK(u.layers.active == 1);
  CHECK(u.build_cache.bytes == 220);
}

TEST_CASE("sizes parse like docker's --keep-storage and print like docker's df") {
  CHECK(*ParseSize("1000") == 1000);
  CHECK(*ParseSize("10GB") == 10LL * 1024 * 1024 * 1024);
  CHECK(*ParseSize("512MiB") == 512LL * 1024 * 1024);
  CHECK(*ParseSize("1.5k") == 1536);
  CHECK_FALSE(ParseSize("ten").has_value());
  CHECK_FALSE(ParseSize("5 parsecs").has_value());
  CHECK(FormatSize(0) == "0B");
  CHECK(FormatSize(1234567) == "1.23MB");
}

namespace {
/// Puts a blob, then replaces it with `kind`: "symlink" (to a sound copy elsewhere), "dir",
/// "fifo" or "bytes" (wrong content).
Digest Damaged(BlobStore& bs, const std::string& root, const std::string& kind) {
  std::string data = "blob to damage: " + kind;
  Digest d = *bs.Put(data);
  std::string p = bs.PathOf(d);
  REQUIRE(::unlink(p.c_str()) == 0);
  if (kind == "symlink") {
    REQUIRE(fs::WriteFileAtomic(root + "/elsewhere-" + kind, data).has_value());
    REQUIRE(::symlink((root + "/elsewhere-" + kind).c_str(), p.c_str()) == 0);
  } else if (kind == "dir") {
    REQUIRE(fs::MakeDirs(p + "/sub").has_value());
  } else if (kind == "fifo") {
    REQUIRE(::mkfifo(p.c_str(), 0644) == 0);
  } else {
    REQUIRE(fs::WriteFileAtomic(p, "wrong bytes").has_value());
  }
  return d;
}
const char* kDamages[] = {"symlink", "dir", "fifo", "bytes"};
}  // namespace

TEST_CASE("a blob replaced by a symlink, a directory, a FIFO or wrong bytes is corrupt: never followed, never blocks, removed") {
  TempRoot r;
  auto bs = std::move(BlobStore::Open(r.dir)).value();
  for (const char* kind : kDamages) {
    CAPTURE(kind);
    for (int op = 0; op < 4; ++op) {
      CAPTURE(op);
      Digest d = Damaged(*bs, r.dir, kind);
      Error e;
      if (op == 0) e = bs->Get(d).error();
      if (op == 1) e = bs->Open(d).error();
      if (op == 2) e = bs->Verify(d).error();
      if (op == 3) {
        // Has answers without reading; a wrong-bytes file is only found when read.
        bool has = bs->Has(d);
        CHECK(has == (std::string(kind) == "bytes"));
        CHECK_FALSE(bs->HasVerified(d));
        e = bs->Get(d).error();
        CHECK(e.code == ErrorCode::kNotFound);
        continue;
      }
      CHECK(e.code == ErrorCode::kCorrupt);
      CHECK(e.message.find(d.ToString()) != std::string::npos);
      struct stat st;
      CHECK(::lstat(bs->PathOf(d).c_str(), &st) != 0);
    }
    // Put remakes it whatever was there; the symlink's target is untouched.
    Digest d = Damaged(*bs, r.dir, kind);
    CHECK(*bs->Put(std::string("blob to damage: ") + kind) == d);
    CHECK(bs->Open(d).has_value());
    CHECK(bs->Verify(d).has_value());
  }
  CHECK(fs::Exists(r.dir + "/elsewhere-symlink"));
}

TEST_CASE("a blob's size and removal never follow a link; Open remembers a verified file until it changes") {
  TempRoot r;
  auto bs = std::move(BlobStore::Open(r.dir)).value();
  Digest d = Damaged(*bs, r.dir, "symlink");
  auto size = bs->Size(d);
  REQUIRE_FALSE(size.has_value());
  CHECK(size.error().code == ErrorCode::kCorrupt);
  Digest dir = Damaged(*bs, r.dir, "dir");
  CHECK(bs->Remove(dir).has_value());
  CHECK_FALSE(fs::Exists(bs->PathOf(dir)));
  // Verified once, then rewritten in place: the change is seen.
  Digest ok = *bs->Put("fine content");
  CHECK(bs->Open(ok).has_value());
  ::usleep(20'000);  // change times tick with the kernel's coarse clock
  {
    UniqueFd fd(::open(bs->PathOf(ok).c_str(), O_WRONLY | O_CLOEXEC));
    REQUIRE(::pwrite(fd.get(), "F", 1, 0) == 1);
  }
  auto e = bs->Open(ok);
  REQUIRE_FALSE(e.has_value());
  CHECK(e.error().code == ErrorCode::kCorrupt);
}
