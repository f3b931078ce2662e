#include <doctest/doctest.h>

#include "common/env_list.h"
#include "common/key_value.h"

using namespace cb;

TEST_CASE("SplitKeyValue splits at the first '='; no '=' is no value") {
  CHECK(SplitKeyValue("K=V=W") == KeyValue{"K", "V=W"});
  CHECK(SplitKeyValue("K=") == KeyValue{"K", ""});
  CHECK(SplitKeyValue("K") == KeyValue{"K", std::nullopt});
  CHECK(SplitKeyValue("=v") == KeyValue{"", "v"});
}

TEST_CASE("SplitFields: comma-separated key=value fields, empty ones skipped") {
  auto f = SplitFields("type=cache,target=/c,,ro,id=a=b");
  REQUIRE(f.size() == 4);
  CHECK(f[0] == KeyValue{"type", "cache"});
  CHECK(f[1] == KeyValue{"target", "/c"});
  CHECK(f[2] == KeyValue{"ro", std::nullopt});
  CHECK(f[3] == KeyValue{"id", "a=b"});
  CHECK(SplitFields("").empty());
}

TEST_CASE("env lists: get the last, set in place, the default PATH") {
  std::vector<std::string> env = {"PATH=/bin", "A=1", "AB=2", "A=3"};
  CHECK(env::Get(env, "A") == "3");
  CHECK(env::Get(env, "B") == std::nullopt);
  CHECK(env::Has(env, "AB"));
  CHECK_FALSE(env::Has(env, "PAT"));
  env::Set(env, "PATH", "/usr/bin");
  CHECK(env[0] == "PATH=/usr/bin");
  env::Set(env, "NEW", "x=y");
  CHECK(env.back() == "NEW=x=y");
  CHECK(env::NameOf("K=V") == "K");
  CHECK(env::NameOf("K") == "K");
  CHECK(env::DefaultPathEntry() == "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
}
