#include <doctest/doctest.h>

#include "common/path.h"

using namespace cb;

TEST_CASE("path::Clean is Go's path.Clean") {
  const std::pair<const char*, const char*> cases[] = {
      {"", "."},          {".", "."},         {"/", "/"},           {"//", "/"},
      {"abc", "abc"},     {"abc/", "abc"},    {"a//b", "a/b"},      {"./a/./b/.", "a/b"},
      {"a/../b", "b"},    {"a/..", "."},      {"..", ".."},         {"../..", "../.."},
      {"../a/../b", "../b"}, {"a/../../b", "../b"}, {"/..", "/"},    {"/../a", "/a"},
      {"/a/b/../../..", "/"}, {"abc/def/../ghi", "abc/ghi"},
  };
  for (const auto& [in, want] : cases) {
    CAPTURE(in);
    CHECK(path::Clean(in) == want);
  }
}

TEST_CASE("path::Resolve joins onto the working directory like BuildKit") {
  CHECK(path::Resolve("/", "app") == "/app");
  CHECK(path::Resolve("/app", "sub/") == "/app/sub");
  CHECK(path::Resolve("/app", "/abs") == "/abs");
  CHECK(path::Resolve("/app", "../..") == "/");
  CHECK(path::Resolve("", "./x/./y") == "/x/y");
  CHECK(path::Resolve("rel", "x") == "/rel/x");
}

TEST_CASE("path::RelativeToRoot, IsCleanAbsolute") {
  CHECK(path::RelativeToRoot("/a/../b/") == "b");
  CHECK(path::RelativeToRoot("../x") == "x");
  CHECK(path::RelativeToRoot(".") == "");
  CHECK(path::RelativeToRoot("/") == "");
  CHECK(path::RelativeToRoot("./d/inner") == "d/inner");
  CHECK(path::IsCleanAbsolute("/"));
  CHECK(path::IsCleanAbsolute("/a/b"));
  CHECK_FALSE(path::IsCleanAbsolute("/a/"));
  CHECK_FALSE(path::IsCleanAbsolute("/a/./b"));
  CHECK_FALSE(path::IsCleanAbsolute("/a/../b"));
  CHECK_FALSE(path::IsCleanAbsolute("a"));
  CHECK_FALSE(path::IsCleanAbsolute(""));
}

TEST_CASE("path::SplitBelowRoot refuses to climb above the root") {
  CHECK(*path::SplitBelowRoot("/a//b/./c/") == std::vector<std::string>{"a", "b", "c"});
  CHECK(*path::SplitBelowRoot("a/../b") == std::vector<std::string>{"b"});
  CHECK(path::SplitBelowRoot("./").value().empty());
  auto up = path::SplitBelowRoot("a/../../etc");
  REQUIRE_FALSE(up);
  CHECK(up.error().message == "path climbs out of the root with `..`");
  CHECK(path::Join({"a", "b", "c"}, 2) == "a/b");
  CHECK(path::Join({"a"}, 0).empty());
}
