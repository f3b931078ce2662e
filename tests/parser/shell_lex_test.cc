// Word expansion: BuildKit's envVarTest / wordsTest vectors (Linux rows) plus the pattern
// modifiers that upstream only tests in Go code.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "parser/shell_lex.h"

namespace {

namespace stdfs = std::filesystem;
using cb::parser::ExpandWord;
using cb::parser::ExpandWords;
using cb::parser::LookupFromList;

const stdfs::path kShellData = stdfs::path(CB_SHARED_TESTDATA) / "buildkit" / "shell";

std::string Trim(std::string s) {
  const char* ws = " \t\r\n\v\f";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

std::vector<std::string> SplitOn(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) return out;
    start = p + 1;
  }
}

std::string Expand(const std::string& word, const std::vector<std::string>& env = {}) {
  auto r = ExpandWord(word, LookupFromList(env));
  return r ? *r : "error";
}

}  // namespace

TEST_CASE("envVarTest: every Linux row") {
  std::ifstream in(kShellData / "envVarTest", std::ios::binary);
  if (!in) {
    MESSAGE("SKIPPED: no shared testdata at " << kShellData.string());
    return;
  }
  auto env = LookupFromList({"PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="});
  std::string line;
  int rows = 0, passed = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '#') continue;
    if (Trim(line).empty()) continue;
    auto f = SplitOn(line, '|');
    REQUIRE(f.size() == 3);
    std::string platform = Trim(f[0]), input = Trim(f[1]), expected = Trim(f[2]);
    if (platform == "W") continue;
    ++rows;
    auto r = ExpandWord(input, env);
    std::string got = r ? *r : "error";
    CAPTURE(input);
    CHECK(got == expected);
    passed += got == expected;
  }
  MESSAGE("envVarTest rows passing: " << passed << "/" << rows);
  CHECK(rows > 100);
}

TEST_CASE("wordsTest: every row") {
  std::ifstream in(kShellData / "wordsTest", std::ios::binary);
  if (!in) {
    MESSAGE("SKIPPED: no shared testdata at " << kShellData.string());
    return;
  }
  std::vector<std::string> env;
  std::string line;
  int rows = 0, passed = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '#') continue;
    if (line.rfind("ENV ", 0) == 0) {
      env.push_back(line.substr(line.find_first_not_of(' ', 4)));
      continue;
    }
    auto f = SplitOn(line, '|');
    REQUIRE(f.size() == 2);
    std::string input = Trim(f[0]);
    std::string rhs = f[1].substr(std::min(f[1].size(), f[1].find_first_not_of(' ')));
    std::vector<std::string> expected = SplitOn(rhs, ',');
    auto r = ExpandWords(input, LookupFromList(env));
    std::vector<std::string> got = r ? *r : std::vector<std::string>{"error"};
    ++rows;
    CAPTURE(input);
    CHECK(got == expected);
    passed += got == expected;
  }
  MESSAGE("wordsTest rows passing: " << passed << "/" << rows);
}

TEST_CASE("pattern modifiers") {
  std::vector<std::string> env = {"FILE=/usr/lib/lib.tar.gz", "AB=aabbaabb", "EMPTY="};
  CHECK(Expand("${FILE#*/}", env) == "usr/lib/lib.tar.gz");
  CHECK(Expand("${FILE##*/}", env) == "lib.tar.gz");
  CHECK(Expand("${FILE%.*}", env) == "/usr/lib/lib.tar");
  CHECK(Expand("${FILE%%.*}", env) == "/usr/lib/lib");
  CHECK(Expand("${FILE#nomatch}", env) == "/usr/lib/lib.tar.gz");
  CHECK(Expand("${AB#a?b}", env) == "baabb");
  CHECK(Expand("${AB/b/X}", env) == "aaXbaabb");
  CHECK(Expand("${AB//b/X}", env) == "aaXXaaXX");
  CHECK(Expand("${AB//a*b/X}", env) == "X");
  CHECK(Expand("${AB/\\*/X}", env) == "aabbaabb");
  CHECK(Expand("${UNSET#x}", env) == "");
  CHECK(Expand("${UNSET//x/y}", env) == "");
  CHECK(Expand("${AB#\\q}", env) == "error");
  CHECK(Expand("${AB/a", env) == "error");
}

TEST_CASE("?-modifier messages") {
  auto unset = ExpandWord("${X?custom message}", LookupFromList({}));
  REQUIRE_FALSE(unset.has_value());
  CHECK(unset.error().message.find("X: custom message") != std::string::npos);
  auto empty = ExpandWord("${E:?}", LookupFromList({"E="}));
  REQUIRE_FALSE(empty.has_value());
  CHECK(empty.error().message.find("E: is not allowed to be empty") != std::string::npos);
}

TEST_CASE("backtick escape token") {
  auto r = ExpandWord("a`$b`\"", LookupFromList({"b=x"}), '`');
  REQUIRE(r.has_value());
  CHECK(*r == "a$b\"");
}

TEST_CASE("deep nesting is an error, not a crash") {
  std::string w;
  for (int i = 0; i < 50000; ++i) w += "${a:-";
  w += "x";
  for (int i = 0; i < 50000; ++i) w += "}";
  auto r = ExpandWord(w, LookupFromList({}));
  CHECK_FALSE(r.has_value());
}
