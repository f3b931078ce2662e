// ContextHasher: what changes a digest and what does not, ignore files, symlinks, the stat cache,
// wildcard expansion and the per-file listing.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <string>

#include "common/fs.h"
#include "planner/context_hasher.h"
#include "planner/dockerignore.h"
#include "planner/source_expand.h"

using namespace cb::planner;

namespace {

struct TempCtx {
  std::string dir;
  TempCtx() { dir = *cb::fs::MakeTempDir("/tmp", "ctx-test-"); }
  ~TempCtx() { (void)cb::fs::RemoveTree(dir); }
  void Write(const std::string& rel, const std::string& data) {
    auto slash = rel.rfind('/');
    if (slash != std::string::npos) REQUIRE(cb::fs::MakeDirs(dir + "/" + rel.substr(0, slash)).has_value());
    REQUIRE(cb::fs::WriteFileAtomic(dir + "/" + rel, data).has_value());
  }
  /// Sets mtime/ctime into the past so the stat cache can keep the entry.
  void Age(const std::string& rel) {
    struct timespec ts[2] = {{std::time(nullptr) - 100, 0}, {std::time(nullptr) - 100, 0}};
    REQUIRE(::utimensat(AT_FDCWD, (dir + "/" + rel).c_str(), ts, 0) == 0);
  }
};

cb::Digest Hash(const std::string& dir, const std::vector<std::string>& srcs, const IgnoreMatcher* ig = nullptr) {
  auto h = ContextHasher::Open(dir, ig, "");
  REQUIRE(h.has_value());
  auto d = h->HashSources(srcs);
  REQUIRE(d.has_value());
  return *d;
}

}  // namespace

TEST_CASE("digest follows content and mode, not mtime") {
  TempCtx c;
  c.Write("src/a.txt", "A");
  c.Write("src/b.txt", "B");
  auto d0 = Hash(c.dir, {"src"});
  c.Age("src/a.txt");
  CHECK(Hash(c.dir, {"src"}) == d0);
  c.Write("src/a.txt", "A2");
  auto d1 = Hash(c.dir, {"src"});
  CHECK(d1 != d0);
  REQUIRE(::chmod((c.dir + "/src/a.txt").c_str(), 0755) == 0);
  CHECK(Hash(c.dir, {"src"}) != d1);
  CHECK(Hash(c.dir, {"src/b.txt"}) != Hash(c.dir, {"src"}));
}

TEST_CASE("missing source is kNotFound naming it") {
  TempCtx c;
  auto h = ContextHasher::Open(c.dir);
  auto r = h->HashSources({"nope.txt"});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == cb::ErrorCode::kNotFound);
  CHECK(r.error().message.find("nope.txt") != std::string::npos);
}

TEST_CASE(".dockerignore: excluded files do not change the digest; an excluded source is not found") {
  TempCtx c;
  c.Write("app/main.c", "int main;");
  c.Write("app/build/out.o", "obj");
  c.Write("app/build/keep.txt", "keep");
  auto ig = IgnoreMatcher::Parse("app/build\n!app/build/keep.txt\n*.log\n");
  REQUIRE(ig.has_value());
  auto d0 = Hash(c.dir, {"."}, &*ig);
  c.Write("app/build/out.o", "changed");
  c.Write("debug.log", "x");
  CHECK(Hash(c.dir, {"."}, &*ig) == d0);
  c.Write("app/build/keep.txt", "changed");
  CHECK(Hash(c.dir, {"."}, &*ig) != d0);
  auto h = ContextHasher::Open(c.dir, &*ig, "");
  auto r = h->HashSources({"debug.log"});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.find("excluded by .dockerignore") != std::string::npos);
  auto det = h->HashSourcesDetailed({"app"});
  REQUIRE(det.has_value());
  for (const auto& f : det->files) CHECK(f.path != "app/build/out.o");
}

TEST_CASE("symlinks are recorded, never followed out of the context") {
  TempCtx c, outside;
  outside.Write("secret", "top secret");
  c.Write("d/file", "x");
  REQUIRE(::symlink((outside.dir + "/secret").c_str(), (c.dir + "/d/abs").c_str()) == 0);
  REQUIRE(::symlink("../../../../../../etc/passwd", (c.dir + "/d/rel").c_str()) == 0);
  auto h = ContextHasher::Open(c.dir);
  auto det = h->HashSourcesDetailed({"d"});
  REQUIRE(det.has_value());
  int links = 0;
  for (const auto& f : det->files)
    if (S_ISLNK(f.mode)) {
      ++links;
      CHECK(f.content.empty());
    }
  CHECK(links == 2);
  CHECK(h->stats().bytes_read == 1);
  // Naming the link itself resolves inside the context: the outside file is not there.
  auto r = h->HashSources({"d/abs"});
  CHECK_FALSE(r.has_value());
}

TEST_CASE("the stat cache skips unchanged files and notices changed ones") {
  TempCtx c, cache;
  for (int i = 0; i < 50; ++i) {
    c.Write(fmt::format("f/{}.txt", i), std::string(1000, static_cast<char>('a' + i % 26)));
  }
  ::usleep(100'000);  // out of the racy window: ctime well before the hash starts
  cb::Digest d0;
  {
    auto h = ContextHasher::Open(c.dir, nullptr, cache.dir);
    d0 = *h->HashSources({"f"});
    CHECK(h->stats().files_read == 50);
    REQUIRE(h->SaveStatCache().has_value());
  }
  {
    auto h = ContextHasher::Open(c.dir, nullptr, cache.dir);
    CHECK(*h->HashSources({"f"}) == d0);
    CHECK(h->stats().files_read == 0);
    CHECK(h->stats().files == 50);
  }
  c.Write("f/7.txt", std::string(1000, 'z'));  // same size, new inode/ctime
  ::usleep(100'000);
  {
    auto h = ContextHasher::Open(c.dir, nullptr, cache.dir);
    CHECK(*h->HashSources({"f"}) != d0);
    CHECK(h->stats().files_read == 1);
  }
}

TEST_CASE("the listing is the same whether a file is read unknown, cached or changed; large files too") {
  TempCtx c, cache;
  std::string big(3 << 20, 'b'), big2(2 << 20, 'c');
  c.Write("d/a.bin", big);   // large files: hashed by tasks of their own
  c.Write("d/b.bin", big2);
  c.Write("d/c.sh", "#!/bin/sh\n");
  REQUIRE(::chmod((c.dir + "/d/c.sh").c_str(), 0755) == 0);
  c.Write("d/sub/e.txt", "e");
  REQUIRE(::symlink("c.sh", (c.dir + "/d/l").c_str()) == 0);
  ::usleep(100'000);
  auto listing = [&](const std::string& cache_dir, int64_t* read) {
    auto h = ContextHasher::Open(c.dir, nullptr, cache_dir);
    REQUIRE(h.has_value());
    auto r = h->HashSourcesDetailed({"d"});
    REQUIRE(r.has_value());
    *read = h->stats().files_read;
    REQUIRE(h->SaveStatCache().has_value());
    return std::make_pair(r->digest, SerializeFiles(r->files));
  };
  int64_t read = 0;
  auto plain = listing("", &read);
  CHECK(read == 4);
  CHECK(plain.second.find(cb::Sha256Of(big).Hex() + " 7 0\nd/a.bin") != std::string::npos);
  CHECK(plain.second.find("100755 ") != std::string::npos);
  CHECK(plain.second.find("d/l") != std::string::npos);
  CHECK(listing(cache.dir, &read) == plain);  // empty cache: every file read
  CHECK(read == 4);
  CHECK(listing(cache.dir, &read) == plain);  // all known and unchanged
  CHECK(read == 0);
  c.Write("d/a.bin", big);  // known to the cache, but a new inode and ctime: read again
  ::usleep(100'000);
  CHECK(listing(cache.dir, &read) == plain);
  CHECK(read == 1);
}

TEST_CASE("a racily clean file (ctime now) is read again next time") {
  TempCtx c, cache;
  c.Write("x", "1");
  {
    auto h = ContextHasher::Open(c.dir, nullptr, cache.dir);
    (void)h->HashSources({"x"});
  }
  auto h = ContextHasher::Open(c.dir, nullptr, cache.dir);
  (void)h->HashSources({"x"});
  CHECK(h->stats().files_read == 1);
}

TEST_CASE("ExpandSources: Go filepath.Match per component, sorted, ignore-aware") {
  TempCtx c;
  c.Write("a.txt", "");
  c.Write("b.txt", "");
  c.Write("c.md", "");
  c.Write("sub/x.txt", "");
  c.Write("sub/deep/y.txt", "");
  c.Write("skip.txt", "");
  auto ig = IgnoreMatcher::Parse("skip.txt\n");
  auto h = ContextHasher::Open(c.dir, &*ig, "");
  int fd = h->root_fd();
  using V = std::vector<std::string>;
  CHECK(*ExpandSources(fd, {"*.txt"}, &*ig) == V{"a.txt", "b.txt"});
  CHECK(*ExpandSources(fd, {"*/*.txt"}, &*ig) == V{"sub/x.txt"});
  CHECK(*ExpandSources(fd, {"sub/*"}, &*ig) == V{"sub/deep", "sub/x.txt"});
  CHECK(*ExpandSources(fd, {"[ab].txt", "c.md"}, &*ig) == V{"a.txt", "b.txt", "c.md"});
  CHECK(*ExpandSources(fd, {"?.md"}, &*ig) == V{"c.md"});
  CHECK(*ExpandSources(fd, {"./sub/../*.md"}, &*ig) == V{"c.md"});
  CHECK_FALSE(ExpandSources(fd, {"[.txt"}, &*ig).has_value());
  // A wildcard that matches nothing adds nothing; it is an error only when nothing of the
  // instruction matches (BuildKit): not beside a match, a plain source, a URL or a heredoc.
  CHECK(*ExpandSources(fd, {"*.none", "c.md"}, &*ig) == V{"c.md"});
  CHECK(*ExpandSources(fd, {"*.none", "missing"}, &*ig) == V{"missing"});
  CHECK(*ExpandSources(fd, {"*.none", "http://h/x"}, &*ig) == V{"http://h/x"});
  CHECK(ExpandSources(fd, {"*.none"}, &*ig, true)->empty());
  auto none = ExpandSources(fd, {"*.none", "skip.*"}, &*ig);
  REQUIRE_FALSE(none.has_value());
  CHECK(none.error().code == cb::ErrorCode::kNotFound);
  CHECK(none.error().message == "no source files were specified: nothing matches `*.none`, `skip.*`");
}

TEST_CASE("per-file listing: FirstDifference names the file; serialization round-trips") {
  TempCtx c;
  c.Write("s/a", "1");
  c.Write("s/b", "2");
  auto h = ContextHasher::Open(c.dir);
  auto before = *h->HashSourcesDetailed({"s"});
  CHECK(before.digest == *h->HashSources({"s"}));
  c.Write("s/b", "3");
  auto after = *h->HashSourcesDetailed({"s"});
  CHECK(FirstDifference(before.files, after.files) == "file `s/b` changed");
  c.Write("s/c", "new");
  auto added = *h->HashSourcesDetailed({"s"});
  CHECK(FirstDifference(after.files, added.files) == "`s/c` added");
  CHECK(FirstDifference(added.files, after.files) == "`s/c` removed");
  CHECK(FirstDifference(after.files, after.files).empty());
  auto parsed = ParseFiles(SerializeFiles(added.files));
  REQUIRE(parsed.has_value());
  CHECK(FirstDifference(*parsed, added.files).empty());
  CHECK(parsed->size() == added.files.size());
}
