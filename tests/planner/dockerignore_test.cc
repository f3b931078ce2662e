// .dockerignore: every row of the shared BuildKit-semantics table, ReadAll normalization, loading.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "common/fs.h"
#include "planner/dockerignore.h"

using cb::planner::IgnoreMatcher;
using cb::planner::IgnoreMatchInfo;

namespace {

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t i = 0;
  for (;;) {
    size_t j = s.find(sep, i);
    out.push_back(s.substr(i, j == std::string::npos ? std::string::npos : j - i));
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return out;
}

std::string WalkResult(const IgnoreMatcher& m, const std::string& path) {
  IgnoreMatchInfo info;
  bool excluded = false;
  size_t i = 0;
  for (;;) {
    size_t j = path.find('/', i);
    std::string prefix = path.substr(0, j);
    IgnoreMatchInfo next;
    excluded = m.ExcludedInWalk(prefix, info, &next);
    info = std::move(next);
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return excluded ? "match" : "nomatch";
}

}  // namespace

TEST_CASE("every row of the dockerignore match table") {
  std::string dir = std::string(CB_SHARED_TESTDATA) + "/buildkit/dockerignore";
  std::string table = Slurp(dir + "/match_cases.tsv");
  if (table.empty()) {
    MESSAGE("SKIPPED: " << dir << "/match_cases.tsv not found");
    return;
  }
  int rows = 0;
  for (const auto& line : Split(table, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    auto f = Split(line, '\t');
    REQUIRE(f.size() >= 3);
    std::string text;
    for (size_t k = 3; k < f.size(); ++k) text += f[k] + "\n";
    auto m = IgnoreMatcher::Parse(text);
    INFO("row: " << line);
    ++rows;
    if (f[0] == "error") {
      CHECK_FALSE(m.has_value());
      continue;
    }
    REQUIRE(m.has_value());
    CHECK((m->Excluded(f[2]) ? "match" : "nomatch") == f[0]);
    CHECK(WalkResult(*m, f[2]) == f[1]);
  }
  CHECK(rows >= 80);
}

TEST_CASE("ReadLines normalizes like ignorefile.ReadAll") {
  std::string dir = std::string(CB_SHARED_TESTDATA) + "/buildkit/dockerignore";
  std::string in = Slurp(dir + "/readall_input.dockerignore");
  std::string want = Slurp(dir + "/readall_expected.txt");
  if (in.empty() || want.empty()) {
    MESSAGE("SKIPPED: readall fixtures not found in " << dir);
    return;
  }
  auto lines = IgnoreMatcher::ReadLines(in);
  std::string got;
  for (const auto& l : lines) got += l + "\n";
  CHECK(got == want);
}

TEST_CASE("CRLF line endings and an error naming the pattern") {
  auto m = IgnoreMatcher::Parse("*.o\r\n!keep.o\r\n");
  REQUIRE(m.has_value());
  CHECK(m->Excluded("a.o"));
  CHECK_FALSE(m->Excluded("keep.o"));
  auto bad = IgnoreMatcher::Parse("ok\nfoo[\n");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message.find("foo[") != std::string::npos);
}

TEST_CASE("CanSkipDir only when no exception can re-include something below") {
  auto m = IgnoreMatcher::Parse("node_modules\nbuild\n!build/keep\n");
  REQUIRE(m.has_value());
  CHECK(m->CanSkipDir("node_modules"));
  CHECK_FALSE(m->CanSkipDir("build"));
  auto w = IgnoreMatcher::Parse("docs\n!docs/**/README.md\n");
  REQUIRE(w.has_value());
  CHECK_FALSE(w->CanSkipDir("docs"));
  auto none = IgnoreMatcher::Parse("a\n");
  CHECK(none->CanSkipDir("a"));
}

TEST_CASE("Load prefers <Dockerfile>.dockerignore over the context's .dockerignore") {
  auto tmp = cb::fs::MakeTempDir("/tmp", "dockerignore-test-");
  REQUIRE(tmp.has_value());
  std::string d = *tmp;
  REQUIRE(cb::fs::WriteFileAtomic(d + "/.dockerignore", "*.log\n").has_value());
  auto plain = IgnoreMatcher::Load(d, d + "/Dockerfile");
  REQUIRE(plain.has_value());
  CHECK(plain->Excluded("x.log"));
  REQUIRE(cb::fs::WriteFileAtomic(d + "/Dockerfile.dockerignore", "*.tmp\n").has_value());
  auto specific = IgnoreMatcher::Load(d, d + "/Dockerfile");
  REQUIRE(specific.has_value());
  CHECK(specific->Excluded("x.tmp"));
  CHECK_FALSE(specific->Excluded("x.log"));
  auto none = IgnoreMatcher::Load(d + "/missing", "");
  REQUIRE(none.has_value());
  CHECK(none->empty());
  REQUIRE(cb::fs::RemoveTree(d).has_value());
}
