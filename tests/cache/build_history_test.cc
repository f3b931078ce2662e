// BuildHistory: every miss explanation, the stored record format of earlier versions, and the
// same contract for the store's history and the in-memory fake.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "cache/blob_store.h"
#include "cache/build_history.h"
#include "cache/metadata_store.h"
#include "common/fs.h"
#include "tests/cache/temp_root.h"

using namespace cb;
using namespace cb::cache;

namespace {
using testing::TempRoot;
/// A distinct digest per letter.
Digest D(char c) {
  Sha256 h;
  h.Update(std::string(1, c));
  return h.Finish();
}

ContextFile File(const std::string& path, char content, uint32_t mode = S_IFREG | 0644) {
  return ContextFile{path, mode, D(content), {}};
}

StepRecord CopyStep() {
  return StepRecord{"COPY src/ /app/", D('p'), D('k'), {"PATH=/bin", "V=1"}, {"src"},
                    std::vector<ContextFile>{File("src/a.txt", 'a'), File("src/b.txt", 'b')}};
}

MissContext At(int number, int index_in_stage, int last_rebuilt = 0) {
  return MissContext{false, number, index_in_stage, last_rebuilt};
}

void CheckContract(BuildHistory& h) {
  CHECK_FALSE(h.Load(D('1')).value().has_value());
  StepRecord rec = CopyStep();
  REQUIRE(h.Save(D('1'), rec).has_value());
  CHECK(h.Load(D('1')).value() == rec);
  StepRecord run{"RUN make", D('q'), D('r'), {"CC=gcc"}, {}, std::vector<ContextFile>{}};
  REQUIRE(h.Save(D('1'), run).has_value());  // replaced
  auto back = h.Load(D('1')).value();
  REQUIRE(back.has_value());
  CHECK(back->text == "RUN make");
  CHECK(back->key == D('r'));
  CHECK_FALSE(back->files.has_value());  // an empty listing is kept as none
  CHECK_FALSE(h.Load(D('2')).value().has_value());
}
}  // namespace

TEST_CASE("a miss names the first input that differs from the last build of the step") {
  StepRecord prev = CopyStep();
  auto miss = [&](const StepRecord& now, MissContext ctx = At(3, 3, 0)) { return ExplainMiss(prev, now, ctx); };

  SUBCASE("nothing to compare with: no explanation") { CHECK(ExplainMiss(std::nullopt, prev, At(3, 3)) == ""); }
  SUBCASE("--no-cache wins, with or without a previous build") {
    MissContext ctx = At(3, 3);
    ctx.no_cache = true;
    CHECK(ExplainMiss(prev, prev, ctx) == "--no-cache");
    CHECK(ExplainMiss(std::nullopt, prev, ctx) == "--no-cache");
  }
  SUBCASE("the instruction changed") {
    StepRecord now = prev;
    now.text = "COPY src/ /srv/";
    now.parent = D('x');  // the instruction is named first
    CHECK(miss(now) == "the instruction changed (was `COPY src/ /app/`)");
  }
  SUBCASE("the state below changed") {
    StepRecord now = prev;
    now.parent = D('x');
    CHECK(miss(now, At(2, 2, 0)) == "the base image changed");       // first step after FROM
    CHECK(miss(now, At(5, 4, 0)) == "the base image changed");
    CHECK(miss(now, At(5, 4, 4)) == "the previous step (#4) was rebuilt");
    CHECK(miss(now, At(6, 5, 3)) == "step #3 before it was rebuilt");  // a cached --link step in between
  }
  SUBCASE("an ARG/ENV value changed, was set, or was unset") {
    StepRecord now = prev;
    now.env = {"PATH=/bin", "V=2"};
    CHECK(miss(now) == "ARG/ENV V changed: `1` → `2`");
    now.env = {"PATH=/bin", "V=1", "W=x"};
    CHECK(miss(now) == "ARG/ENV W changed: unset → `x`");
    now.env = {"PATH=/bin", "V=1", "EMPTY="};
    CHECK(miss(now) == "ARG/ENV EMPTY changed: unset → ``");
  }
  SUBCASE("a context file changed, was added or removed") {
    StepRecord now = prev;
    now.files = {File("src/a.txt", 'a'), File("src/b.txt", 'c')};
    CHECK(miss(now) == "file `src/b.txt` changed");
    now.files = {File("src/a.txt", 'a'), File("src/b.txt", 'b'), File("src/c.txt", 'c')};
    CHECK(miss(now) == "`src/c.txt` added");
    now.files = {File("src/b.txt", 'b')};
    CHECK(miss(now) == "`src/a.txt` removed");
    now.files = {File("src/a.txt", 'a', S_IFREG | 0755), File("src/b.txt", 'b')};
    CHECK(miss(now) == "mode of `src/a.txt` changed (644 → 755)");
    now.files = std::nullopt;  // read nothing this time
    CHECK(miss(now) == "`src/a.txt` removed");
  }
  SUBCASE("nothing named differs (e.g. a flag, or the listing was pruned)") {
    StepRecord now = prev;
    now.key = D('z');
    CHECK(miss(now) == "the step's inputs changed");
    StepRecord pruned = prev;
    pruned.files.reset();
    now.files = {File("src/new.txt", 'n')};
    CHECK(ExplainMiss(pruned, now, At(3, 3)) == "the step's inputs changed");
  }
}

TEST_CASE("COPY reuse: the same step but for the files' content") {
  StepRecord prev = CopyStep(), now = CopyStep();
  now.files = {File("src/a.txt", 'z')};
  now.key = D('y');
  CHECK(SameButFiles(prev, now));
  for (int what = 0; what < 4; ++what) {
    StepRecord other = now;
    if (what == 0) other.text = "COPY src/ /srv/";
    if (what == 1) other.parent = D('x');
    if (what == 2) other.env.push_back("W=1");
    if (what == 3) other.sources = {"src", "more"};
    CHECK_FALSE(SameButFiles(prev, other));
  }
}

TEST_CASE("the store's history keeps the contract") {
  TempRoot r;
  auto meta = std::move(MetadataStore::Open(r.dir)).value();
  auto blobs = std::move(BlobStore::Open(r.dir)).value();
  auto h = NewStoreBuildHistory(*meta, *blobs);
  CheckContract(*h);
}

TEST_CASE("the in-memory history keeps the contract") {
  MemoryBuildHistory h;
  CheckContract(h);
  CHECK(h.records().size() == 1);
}

TEST_CASE("the store's history writes and reads the records of earlier cbuild versions") {
  TempRoot r;
  auto meta = std::move(MetadataStore::Open(r.dir)).value();
  auto blobs = std::move(BlobStore::Open(r.dir)).value();
  auto h = NewStoreBuildHistory(*meta, *blobs);
  StepRecord rec = CopyStep();
  REQUIRE(h->Save(D('1'), rec).has_value());
  auto j = nlohmann::json::parse(*meta->GetCacheRecord(D('1')).value());
  Digest listing = *blobs->Put(SerializeFiles(*rec.files));
  nlohmann::json want = {{"text", rec.text},     {"parent", D('p').ToString()}, {"key", D('k').ToString()},
                         {"env", rec.env},       {"sources", rec.sources},      {"files", listing.ToString()}};
  CHECK(j == want);
  // No sources, no listing: those members are left out, as before.
  REQUIRE(h->Save(D('2'), StepRecord{"RUN true", D('p'), D('k'), {}, {}, std::nullopt}).has_value());
  CHECK(nlohmann::json::parse(*meta->GetCacheRecord(D('2')).value()) ==
        nlohmann::json{{"text", "RUN true"}, {"parent", D('p').ToString()}, {"key", D('k').ToString()},
                       {"env", nlohmann::json::array()}});
  // A listing blob that was pruned: the record still loads, without a listing.
  REQUIRE(blobs->Remove(listing).has_value());
  auto back = h->Load(D('1')).value();
  REQUIRE(back.has_value());
  CHECK(back->text == rec.text);
  CHECK_FALSE(back->files.has_value());
  // Records that are not history records read as none.
  for (const char* bad : {"garbage", "[1]", R"({"env":"x"})", R"({"sources":[1]})"}) {
    REQUIRE(meta->PutCacheRecord(D('3'), bad).has_value());
    CHECK_FALSE(h->Load(D('3')).value().has_value());
  }
}
