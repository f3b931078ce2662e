// Pathological inputs: an error or a result within a few seconds and bounded memory.
#include <doctest/doctest.h>

#include <sys/resource.h>

#include <chrono>

#include "parser/parser.h"
#include "parser/shell_lex.h"

namespace {

long MaxRssKiB() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// Runs `f`, then asserts it took < 5 s and grew the peak RSS by < 256 MiB.
template <typename F>
void Bounded(const char* what, F&& f) {
  long before = MaxRssKiB();
  auto t0 = std::chrono::steady_clock::now();
  f();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  long grown_mib = (MaxRssKiB() - before) / 1024;
  MESSAGE(std::string(what) << ": " << secs << " s, peak RSS +" << grown_mib << " MiB");
  CHECK(secs < 5.0);
  CHECK(grown_mib < 256);
}

}  // namespace

TEST_CASE("50 000-deep ${...} nesting") {
  std::string w;
  for (int i = 0; i < 50000; ++i) w += "${a:-";
  for (int i = 0; i < 50000; ++i) w += "}";
  Bounded("nested expansion", [&] {
    CHECK_FALSE(cb::parser::ExpandWord(w, cb::parser::LookupFromList({})).has_value());
  });
  Bounded("nested expansion inside a RUN heredoc line", [&] {
    auto df = cb::parser::Parse("FROM a\nRUN <<EOF " + w.substr(0, 60000) + "\nEOF\n");
    (void)df;
  });
}

TEST_CASE("an 8 MiB line is rejected quickly") {
  std::string text = "FROM a\nRUN " + std::string(8 << 20, 'x') + "\n";
  Bounded("8 MiB line", [&] {
    auto df = cb::parser::Parse(text);
    REQUIRE_FALSE(df.has_value());
    CHECK(df.error().where->line == 2);
    CHECK(cb::parser::FormatError(df.error(), text).size() < 1024);
  });
}

TEST_CASE("200 000 continuation lines") {
  std::string text = "FROM a\nRUN echo \\\n";
  for (int i = 0; i < 200000; ++i) text += "  && step" + std::to_string(i) + " \\\n";
  text += "  && done\n";
  Bounded("200k continuation lines", [&] {
    auto df = cb::parser::Parse(text);
    REQUIRE(df.has_value());
    CHECK(df->instructions[1].range.end_line == 200003);
  });
  Bounded("200k continuation lines of ENV words", [&] {
    std::string env = "FROM a\nENV \\\n";
    for (int i = 0; i < 200000; ++i) env += " k" + std::to_string(i) + "=v \\\n";
    auto df = cb::parser::Parse(env);
    REQUIRE(df.has_value());
    CHECK(df->instructions[1].args.size() == 600000);
  });
}

TEST_CASE("NUL bytes and invalid UTF-8") {
  std::string text = std::string("FROM a\0b\nRUN \xff\xfe\x00\xc3\n", 18) + "LABEL k=\xe2\x28\xa1\n";
  Bounded("binary garbage", [&] {
    auto df = cb::parser::Parse(text);
    REQUIRE(df.has_value());
    CHECK(cb::parser::DumpBuildkit(*df) ==
          "(from \"a\\x00b\")\n(run \"\\xff\\xfe\\x00\\xc3\")\n(label \"k\" \"\xef\xbf\xbd(\xef\xbf\xbd\" \"=\")\n");
    CHECK(!cb::parser::DumpJson(*df).empty());
  });
}

TEST_CASE("deeply nested JSON and ONBUILD chains") {
  Bounded("1M-deep JSON", [&] {
    std::string text = "FROM a\nCMD " + std::string(1 << 20, '[') + "\n";
    CHECK(cb::parser::Parse(text).has_value() == false);  // the line is too long
    std::string ok = "FROM a\nCMD " + std::string(30000, '[') + std::string(30000, ']') + "\n";
    CHECK(cb::parser::Parse(ok).has_value());
  });
  Bounded("ONBUILD x 10000", [&] {
    std::string text = "FROM a\n";
    for (int i = 0; i < 6000; ++i) text += "ONBUILD ";
    text += "RUN x\n";
    CHECK_FALSE(cb::parser::Parse(text).has_value());
  });
}

TEST_CASE("many heredocs and pattern blow-up") {
  Bounded("10000 heredocs", [&] {
    std::string text = "FROM a\nRUN";
    for (int i = 0; i < 2000; ++i) text += " <<E" + std::to_string(i);
    text += "\n";
    for (int i = 0; i < 2000; ++i) text += "body\nE" + std::to_string(i) + "\n";
    auto df = cb::parser::Parse(text);
    REQUIRE(df.has_value());
    CHECK(df->instructions[1].heredocs.size() == 2000);
  });
  Bounded("star-heavy pattern", [&] {
    std::string value(3000, 'a');
    auto r = cb::parser::ExpandWord("${V%%*a*a*a*a*a*a*b}",
                                    cb::parser::LookupFromList({"V=" + value}));
    CHECK(r.has_value());
  });
}
