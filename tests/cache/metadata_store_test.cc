// MetadataStore shared by several processes: no "database is locked" however they interleave.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "cache/metadata_store.h"
#include "common/fs.h"

using namespace cb;
using namespace cb::cache;

namespace {

/// One process's share of the load: cache reads that touch, writes, tags, listings. Returns
/// the number of failed calls.
int Hammer(const std::string& root, int who, int rounds) {
  auto m = MetadataStore::Open(root);
  if (!m) return 1000000;
  int failed = 0;
  for (int i = 0; i < rounds; ++i) {
    Digest k = Sha256Of("key " + std::to_string(i % 7));
    failed += !(*m)->PutCacheRecord(k, "{\"n\":" + std::to_string(i) + "}").has_value();
    failed += !(*m)->GetCacheRecord(k).has_value();
    failed += !(*m)->GetCacheRecord(Sha256Of("key " + std::to_string((i + who) % 7))).has_value();
    if (i % 5 == 0) failed += !(*m)->SetTag("img" + std::to_string(who), k).has_value();
    if (i % 11 == 0) failed += !(*m)->ListCacheRecords().has_value();
    if (i % 13 == 0) failed += !(*m)->DeleteCacheRecord(k).has_value();
  }
  return failed;
}

}  // namespace

TEST_CASE("metadata store: four processes reading, touching and writing at once never fail") {
  std::string root = *fs::MakeTempDir("/tmp", "meta-test-");
  constexpr int kProcs = 4, kRounds = 400;
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(std::min(Hammer(root, p, kRounds), 255));
    kids.push_back(pid);
  }
  int failed = 0;
  for (pid_t pid : kids) {
    int st = 0;
    ::waitpid(pid, &st, 0);
    failed += WIFEXITED(st) ? WEXITSTATUS(st) : 1000;
  }
  CHECK(failed == 0);
  auto m = MetadataStore::Open(root);
  REQUIRE(m.has_value());
  CHECK((*m)->ListTags()->size() == kProcs);
  (void)fs::RemoveTree(root);
}

TEST_CASE("metadata store: DeleteTag says whether the name existed") {
  std::string root = *fs::MakeTempDir("/tmp", "meta-test-");
  auto m = std::move(MetadataStore::Open(root)).value();
  Digest d = Sha256Of("m");
  REQUIRE(m->SetTag("a", d).has_value());
  CHECK(*m->DeleteTag("a") == true);
  CHECK(*m->DeleteTag("a") == false);
  CHECK_FALSE(m->GetTag("a")->has_value());
  (void)fs::RemoveTree(root);
}
