// BuildKit's own parser cases (shared testdata): dumps byte-identical, negatives rejected,
// line ranges of testfile-line.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "parser/parser.h"

namespace {

namespace stdfs = std::filesystem;

const stdfs::path kParserData = stdfs::path(CB_SHARED_TESTDATA) / "buildkit" / "parser";

std::string Slurp(const stdfs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<stdfs::path> Cases(const char* dir) {
  std::vector<stdfs::path> out;
  if (!stdfs::exists(kParserData / dir)) return out;
  for (const auto& e : stdfs::directory_iterator(kParserData / dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("buildkit positive cases dump byte-identically") {
  auto cases = Cases("testfiles");
  if (cases.empty()) {
    MESSAGE("SKIPPED: no shared testdata at " << kParserData.string());
    return;
  }
  int passed = 0;
  for (const auto& c : cases) {
    CAPTURE(c.filename().string());
    std::string text = Slurp(c / "Dockerfile");
    auto df = cb::parser::Parse(text, "Dockerfile");
    REQUIRE_MESSAGE(df.has_value(), (df ? "" : df.error().ToString()));
    std::string expected = Slurp(c / "result");
    CHECK(cb::parser::DumpBuildkit(*df) == expected);
    passed += cb::parser::DumpBuildkit(*df) == expected;
  }
  MESSAGE("positive cases passing: " << passed << "/" << cases.size());
}

TEST_CASE("buildkit negative cases are rejected") {
  auto cases = Cases("testfiles-negative");
  if (cases.empty()) {
    MESSAGE("SKIPPED: no shared testdata at " << kParserData.string());
    return;
  }
  for (const auto& c : cases) {
    CAPTURE(c.filename().string());
    auto df = cb::parser::Parse(Slurp(c / "Dockerfile"), "Dockerfile");
    CHECK_FALSE(df.has_value());
    if (!df) CHECK(df.error().code == cb::ErrorCode::kSyntax);
  }
}

TEST_CASE("testfile-line: instruction line ranges") {
  stdfs::path p = kParserData / "testfile-line" / "Dockerfile";
  if (!stdfs::exists(p)) {
    MESSAGE("SKIPPED: no shared testdata at " << p.string());
    return;
  }
  auto df = cb::parser::Parse(Slurp(p), "Dockerfile");
  REQUIRE(df.has_value());
  REQUIRE(df->instructions.size() == 3);
  CHECK(df->instructions[0].range.start_line == 5);
  CHECK(df->instructions[0].range.end_line == 5);
  CHECK(df->instructions[1].range.start_line == 11);
  CHECK(df->instructions[1].range.end_line == 12);
  CHECK(df->instructions[2].range.start_line == 17);
  CHECK(df->instructions[2].range.end_line == 31);
}
