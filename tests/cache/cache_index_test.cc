// CacheIndex: the typed record, today's stored text (existing stores keep their hits), and the
// same contract for the store's index and the in-memory fake.
#include <doctest/doctest.h>

#include "cache/cache_index.h"
#include "cache/metadata_store.h"
#include "common/fs.h"
#include "tests/cache/temp_root.h"

using namespace cb;
using namespace cb::cache;

namespace {
using testing::TempRoot;
Digest D(char c) { return *Digest::Parse("sha256:" + std::string(64, c)); }

/// What every CacheIndex must do.
void CheckContract(CacheIndex& index) {
  CHECK_FALSE(index.Lookup(D('1')).value().has_value());
  REQUIRE(index.Record(D('1'), CacheRecord{D('a')}).has_value());
  REQUIRE(index.Record(D('2'), CacheRecord{}).has_value());
  auto with_layer = index.Lookup(D('1')).value();
  REQUIRE(with_layer.has_value());
  CHECK(with_layer->diff_id == D('a'));
  auto without = index.Lookup(D('2')).value();
  REQUIRE(without.has_value());  // a hit that has no layer (a config step)
  CHECK_FALSE(without->diff_id.has_value());
  REQUIRE(index.Record(D('1'), CacheRecord{D('b')}).has_value());  // replaced
  CHECK(index.Lookup(D('1')).value()->diff_id == D('b'));
  CHECK_FALSE(index.Lookup(D('3')).value().has_value());
}
}  // namespace

TEST_CASE("cache record text: a layer's diff_id, or an empty object") {
  CHECK(FormatCacheRecord(CacheRecord{D('a')}) == R"({"diff_id":"sha256:)" + std::string(64, 'a') + R"("})");
  CHECK(FormatCacheRecord(CacheRecord{}) == "{}");
  CHECK(ParseCacheRecord("{}") == CacheRecord{});
  CHECK(ParseCacheRecord(FormatCacheRecord(CacheRecord{D('c')})) == CacheRecord{D('c')});
  // Not a record: the index treats it as absent, the step runs and overwrites it.
  for (const char* bad : {"", "not json", "[]", "42", R"({"diff_id":"nope"})", R"({"diff_id":7})"})
    CHECK_FALSE(ParseCacheRecord(bad).has_value());
}

TEST_CASE("the store's index keeps the contract") {
  TempRoot r;
  auto meta = std::move(MetadataStore::Open(r.dir)).value();
  auto index = NewMetadataCacheIndex(*meta);
  CheckContract(*index);
}

TEST_CASE("the in-memory index keeps the contract and counts calls") {
  MemoryCacheIndex index;
  CheckContract(index);
  CHECK(index.lookups() == 5);
  CHECK(index.recorded() == 3);
  CHECK(index.records().size() == 2);
}

TEST_CASE("the store's index reads and writes the records of earlier cbuild versions byte for byte") {
  TempRoot r;
  auto meta = std::move(MetadataStore::Open(r.dir)).value();
  auto index = NewMetadataCacheIndex(*meta);
  // As the builder wrote them before the index had its own home.
  std::string layer = R"({"diff_id":"sha256:)" + std::string(64, 'e') + R"("})";
  REQUIRE(meta->PutCacheRecord(D('1'), layer).has_value());
  REQUIRE(meta->PutCacheRecord(D('2'), "{}").has_value());
  REQUIRE(meta->PutCacheRecord(D('3'), "garbage").has_value());
  CHECK(index->Lookup(D('1')).value() == CacheRecord{D('e')});
  CHECK(index->Lookup(D('2')).value() == CacheRecord{});
  CHECK_FALSE(index->Lookup(D('3')).value().has_value());
  REQUIRE(index->Record(D('4'), CacheRecord{D('e')}).has_value());
  REQUIRE(index->Record(D('5'), CacheRecord{}).has_value());
  CHECK(meta->GetCacheRecord(D('4')).value() == layer);
  CHECK(meta->GetCacheRecord(D('5')).value() == "{}");
}
