// Our own parser cases, written from BuildKit's documented behaviour: heredocs, directives,
// escapes, continuations, flags, error locations and messages.
#include <doctest/doctest.h>

#include "parser/parser.h"

namespace {

using cb::parser::DumpBuildkit;
using cb::parser::Parse;

std::string Dump(std::string_view text) {
  auto df = Parse(text);
  return df ? DumpBuildkit(*df) : "error: " + df.error().ToString();
}

cb::ast::Dockerfile MustParse(std::string_view text) {
  auto df = Parse(text);
  REQUIRE_MESSAGE(df.has_value(), (df ? "" : df.error().ToString()));
  return *df;
}

cb::Error MustFail(std::string_view text) {
  auto df = Parse(text);
  REQUIRE_FALSE(df.has_value());
  return df.error();
}

}  // namespace

TEST_CASE("milestone instructions") {
  auto df = MustParse(
      "FROM golang:1.22 AS build\n"
      "WORKDIR /src\n"
      "COPY --from=build --chown=1:1 a b /dst/\n"
      "COPY [\"x y\", \"/z\"]\n"
      "RUN go build  -o /out \\\n"
      "    ./cmd\n"
      "RUN [\"sh\", \"-c\", \"echo hi\"]\n"
      "CMD echo done\n"
      "CMD [\"/app\"]\n");
  REQUIRE(df.instructions.size() == 8);
  const auto& from = df.instructions[0];
  CHECK(from.keyword == "from");
  CHECK(from.args == std::vector<std::string>{"golang:1.22", "AS", "build"});
  CHECK(df.instructions[1].args == std::vector<std::string>{"/src"});
  const auto& copy = df.instructions[2];
  CHECK(copy.flags == std::vector<std::string>{"--from=build", "--chown=1:1"});
  CHECK(copy.args == std::vector<std::string>{"a", "b", "/dst/"});
  CHECK_FALSE(copy.json);
  CHECK(df.instructions[3].json);
  CHECK(df.instructions[3].args == std::vector<std::string>{"x y", "/z"});
  const auto& run = df.instructions[4];
  CHECK(run.args == std::vector<std::string>{"go build  -o /out     ./cmd"});
  CHECK(run.range.start_line == 5);
  CHECK(run.range.end_line == 6);
  CHECK(run.original == "RUN go build  -o /out     ./cmd");
  CHECK(df.instructions[5].json);
  CHECK(df.instructions[5].args == std::vector<std::string>{"sh", "-c", "echo hi"});
  CHECK(df.instructions[6].args == std::vector<std::string>{"echo done"});
  CHECK(df.instructions[7].args == std::vector<std::string>{"/app"});
}

TEST_CASE("keywords are case-insensitive; unknown keywords dump one empty arg") {
  CHECK(Dump("fRoM a\nrUn b\n") == "(from \"a\")\n(run \"b\")\n");
  CHECK(Dump("FROM a\nFOO --x bar\n") == "(from \"a\")\n(foo [\"--x\"] \"\")\n");
}

TEST_CASE("heredocs") {
  SUBCASE("basic body, range and args") {
    auto df = MustParse("FROM a\nRUN <<EOF\necho hi\n# not a comment\nFROM b\nEOF\nCMD x\n");
    REQUIRE(df.instructions.size() == 3);
    const auto& run = df.instructions[1];
    CHECK(run.args == std::vector<std::string>{"<<EOF"});
    REQUIRE(run.heredocs.size() == 1);
    CHECK(run.heredocs[0].name == "EOF");
    CHECK(run.heredocs[0].content == "echo hi\n# not a comment\nFROM b\n");
    CHECK(run.heredocs[0].expand);
    CHECK_FALSE(run.heredocs[0].chomp);
    CHECK(run.range.start_line == 2);
    CHECK(run.range.end_line == 6);
    CHECK(run.heredocs[0].start_line == 3);
    CHECK(run.heredocs[0].end_line == 6);
  }
  SUBCASE("quoted delimiters disable expansion") {
    for (const char* op : {"<<'EOF'", "<<\"EOF\"", "<<E\"O\"F"}) {
      CAPTURE(op);
      auto df = MustParse(std::string("FROM a\nRUN ") + op + "\n$X\nEOF\n");
      REQUIRE(df.instructions[1].heredocs.size() == 1);
      CHECK(df.instructions[1].heredocs[0].name == "EOF");
      CHECK_FALSE(df.instructions[1].heredocs[0].expand);
      CHECK(df.instructions[1].heredocs[0].content == "$X\n");
    }
  }
  SUBCASE("<<- strips leading tabs of the terminator and the body") {
    auto df = MustParse("FROM a\nRUN <<-EOF\n\t\techo hi\n\tEOF\n");
    REQUIRE(df.instructions[1].heredocs.size() == 1);
    CHECK(df.instructions[1].heredocs[0].chomp);
    CHECK(df.instructions[1].heredocs[0].content == "echo hi\n");
  }
  SUBCASE("several heredocs on one line, in order") {
    auto df = MustParse("FROM a\nCOPY <<FILE1 <<FILE2 /dest/\none\nFILE1\ntwo\nFILE2\nRUN x\n");
    CHECK(DumpBuildkit(df) ==
          "(from \"a\")\n(copy \"<<FILE1\" \"<<FILE2\" \"/dest/\")\n(run \"x\")\n");
    const auto& docs = df.instructions[1].heredocs;
    REQUIRE(docs.size() == 2);
    CHECK(docs[0].name == "FILE1");
    CHECK(docs[0].content == "one\n");
    CHECK(docs[1].name == "FILE2");
    CHECK(docs[1].content == "two\n");
  }
  SUBCASE("fd prefix and blank after <<") {
    auto df = MustParse("FROM a\nRUN 3<<EOF cat /dev/fd/3\nx\nEOF\nRUN << END\ny\nEND\n");
    REQUIRE(df.instructions[1].heredocs.size() == 1);
    CHECK(df.instructions[1].heredocs[0].fd == 3);
    REQUIRE(df.instructions[2].heredocs.size() == 1);
    CHECK(df.instructions[2].heredocs[0].name == "END");
  }
  SUBCASE("ADD, ONBUILD; not in JSON form, not for other instructions") {
    auto df = MustParse("FROM a\nADD <<EOF /x\nbody\nEOF\nONBUILD RUN <<EOF\nz\nEOF\n"
                        "RUN [\"<<EOF\"]\nENV a=<<EOF\n");
    REQUIRE(df.instructions.size() == 5);
    CHECK(df.instructions[1].heredocs.size() == 1);
    CHECK(df.instructions[2].heredocs.size() == 1);
    CHECK(df.instructions[3].heredocs.empty());
    CHECK(df.instructions[4].heredocs.empty());
  }
  SUBCASE("a heredoc continued line") {
    auto df = MustParse("FROM a\nRUN <<EOF \\\n  && true\nbody\nEOF\n");
    REQUIRE(df.instructions[1].heredocs.size() == 1);
    CHECK(df.instructions[1].heredocs[0].content == "body\n");
  }
  SUBCASE("unterminated heredoc is an error at the operator") {
    auto e = MustFail("FROM a\nRUN echo <<EOF\nbody\n");
    REQUIRE(e.where.has_value());
    CHECK(e.where->line == 2);
    CHECK(e.where->col == 10);
    CHECK(e.message.find("unterminated heredoc") != std::string::npos);
  }
}

TEST_CASE("parser directives") {
  SUBCASE("escape backtick, syntax and check are recorded") {
    auto df = MustParse("# syntax=docker/dockerfile:1\n#ESCAPE = `\n# check=skip=all\n"
                        "FROM a\nRUN echo a `\n  b\n");
    CHECK(df.escape == '`');
    REQUIRE(df.directives.size() == 3);
    CHECK(df.directives[0].name == "syntax");
    CHECK(df.directives[0].value == "docker/dockerfile:1");
    CHECK(df.directives[1].name == "escape");
    CHECK(df.directives[1].line == 2);
    CHECK(df.directives[2].value == "skip=all");
    CHECK(df.instructions[1].args == std::vector<std::string>{"echo a   b"});
  }
  SUBCASE("only at the top: after a blank line, comment or instruction they are comments") {
    CHECK(MustParse("\n# escape=`\nFROM a\n").escape == '\\');
    CHECK(MustParse("# hello\n# escape=`\nFROM a\n").escape == '\\');
    CHECK(MustParse("# foo=bar\n# escape=`\nFROM a\n").escape == '\\');
    CHECK(MustParse("FROM a\n# escape=`\n").directives.empty());
  }
  SUBCASE("duplicate and invalid directives are errors") {
    auto dup = MustFail("# escape=`\n# escape=\\\nFROM a\n");
    CHECK(dup.where->line == 2);
    CHECK(dup.message.find("only one escape parser directive") != std::string::npos);
    auto bad = MustFail("# escape=x\nFROM a\n");
    CHECK(bad.where->line == 1);
    CHECK(MustFail("# syntax=a\n# SYNTAX=b\nFROM a\n").where->line == 2);
  }
  SUBCASE("with the backtick escape, backslash is literal") {
    CHECK(Dump("# escape=`\nFROM a\nRUN dir c:\\\nRUN x\n") ==
          "(from \"a\")\n(run \"dir c:\\\\\")\n(run \"x\")\n");
  }
}

TEST_CASE("continuations") {
  CHECK(Dump("FROM a\nRUN a \\\n# comment \\\n\n   \n    b\n") == "(from \"a\")\n(run \"a     b\")\n");
  CHECK(Dump("FROM a\nRUN a\\\\\nRUN b\n") == "(from \"a\")\n(run \"a\\\\\\\\\")\n(run \"b\")\n");
  CHECK(Dump("FROM a\nRUN a \\") == "(from \"a\")\n(run \"a\")\n");
  CHECK(Dump("FROM a\nRUN a \\  \t\n b") == "(from \"a\")\n(run \"a  b\")\n");
  auto df = MustParse("FROM a\nRUN a \\\n\nb\n");
  CHECK(df.warnings.size() == 1);
  CHECK(df.instructions[1].range.end_line == 4);
}

TEST_CASE("line endings, BOM, leading whitespace") {
  CHECK(Dump("\xEF\xBB\xBF" "FROM a\r\nRUN b\r\n") == "(from \"a\")\n(run \"b\")\n");
  auto df = MustParse("  \tFROM a\n");
  CHECK(df.instructions[0].col == 4);
}

TEST_CASE("flags") {
  CHECK(Dump("FROM --platform=linux/amd64 a\n") == "(from [\"--platform=linux/amd64\"] \"a\")\n");
  CHECK(Dump("FROM a\nRUN --mount=type=cache,target=/x --network=none make\n") ==
        "(from \"a\")\n(run [\"--mount=type=cache,target=/x\" \"--network=none\"] \"make\")\n");
  CHECK(Dump("FROM a\nCOPY --x=\"a b\" --y='c' --z=\\$ s d\n") ==
        "(from \"a\")\n(copy [\"--x=a b\" \"--y=c\" \"--z=$\"] \"s\" \"d\")\n");
  CHECK(Dump("FROM a\nCOPY --x=\"\" s d\n") == "(from \"a\")\n(copy [\"--x=\"] \"s\" \"d\")\n");
}

TEST_CASE("ENV, LABEL, ARG forms") {
  CHECK(Dump("FROM a\nLABEL a=b \"c d\"=e\n") ==
        "(from \"a\")\n(label \"a\" \"b\" \"=\" \"\\\"c d\\\"\" \"e\" \"=\")\n");
  CHECK(Dump("FROM a\nENV\n") == "(from \"a\")\n(env)\n");
  CHECK(MustFail("FROM a\nENV a=b c\n").message.find("can't find = in \"c\"") != std::string::npos);
  CHECK(MustFail("FROM a\nLABEL x\n").message == "LABEL must have two arguments");
  CHECK(Dump("ARG\n") == "(arg)\n");
}

TEST_CASE("JSON form rules") {
  CHECK(Dump("FROM a\nCMD [\"a\\u0000\\/b\"]\n") == "(from \"a\")\n(cmd \"a\\x00/b\")\n");
  CHECK(Dump("FROM a\nCMD ['a']\n") == "(from \"a\")\n(cmd \"['a']\")\n");
  CHECK(Dump("FROM a\nCMD [\"a\"] x\n") == "(from \"a\")\n(cmd \"[\\\"a\\\"] x\")\n");
  CHECK(Dump("FROM a\nCMD []\n") == "(from \"a\")\n(cmd)\n");
  CHECK(Dump("FROM a\nSHELL [\"/bin/sh\", \"-c\"]\n") == "(from \"a\")\n(shell \"/bin/sh\" \"-c\")\n");
  auto e = MustFail("FROM a\nENTRYPOINT [\"a\", null]\n");
  CHECK(e.where->line == 2);
  CHECK(e.where->col == 18);
  MustFail("FROM a\nVOLUME [[\"a\"]]\n");
  std::string deep = "FROM a\nCMD " + std::string(5000, '[') + std::string(5000, ']') + "\n";
  CHECK(MustParse(deep).instructions[1].args.size() == 1);
}

TEST_CASE("ONBUILD") {
  CHECK(Dump("FROM a\nONBUILD RUN make\nONBUILD\nONBUILD COPY --from=b /a /b\n") ==
        "(from \"a\")\n(onbuild (run \"make\"))\n(onbuild)\n(onbuild (copy [\"--from=b\"] \"/a\" \"/b\"))\n");
  CHECK(Dump("FROM a\nONBUILD ONBUILD RUN x\n") == "(from \"a\")\n(onbuild (onbuild (run \"x\")))\n");
  auto e = MustFail("FROM a\nONBUILD ENV x\n");
  CHECK(e.where->col == 13);
}

TEST_CASE("quoting in the dump follows Go's strconv.Quote") {
  CHECK(Dump("FROM a\nRUN a\tb \xC3\xA9 \xE2\x99\xA5 \xC2\xA0 \xE2\x80\x8B \xFF \x7F \xF0\x9F\x98\x80\n") ==
        "(from \"a\")\n(run \"a\\tb é ♥ \\u00a0 \\u200b \\xff \\x7f 😀\")\n");
}

TEST_CASE("errors: location and caret") {
  std::string text = "FROM a\n\tRUN [\"x\", 1]\n";
  auto df = Parse(text, "Dockerfile");
  REQUIRE_FALSE(df.has_value());
  CHECK(cb::parser::FormatError(df.error(), text) ==
        "Dockerfile:2:12: when using JSON array syntax, arrays must be comprised of strings only\n"
        "   2 | \tRUN [\"x\", 1]\n"
        "     | \t          ^\n");
  auto none = MustFail("# just a comment\n\n");
  CHECK(none.message == "file with no instructions");
  CHECK(MustFail("").message == "file with no instructions");
  auto long_line = MustFail("FROM a\nRUN " + std::string(70000, 'x') + "\n");
  CHECK(long_line.where->line == 2);
}

TEST_CASE("Validate: unknown instructions and flags") {
  using cb::parser::Validate;
  CHECK(Validate(MustParse("ARG V\nFROM a:$V\nCOPY --from=b --chmod=644 x y\nRUN --mount=type=cache,target=/c x\n")));
  auto unknown = Validate(MustParse("FROM a\nCOPPY x y\n"));
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().message == "unknown instruction: COPPY (did you mean COPY?)");
  CHECK(unknown.error().where->line == 2);
  auto flag = Validate(MustParse("FROM a\nCOPY --frm=b x y\n"));
  REQUIRE_FALSE(flag.has_value());
  CHECK(flag.error().ToString() == "Dockerfile:2:6: COPY: unknown flag: --frm (did you mean from?)");
  auto before = Validate(MustParse("RUN x\nFROM a\n"));
  REQUIRE_FALSE(before.has_value());
  auto onbuild = Validate(MustParse("FROM a\nONBUILD FROM b\n"));
  REQUIRE_FALSE(onbuild.has_value());
  CHECK(onbuild.error().where->col == 9);
  CHECK_FALSE(Validate(MustParse("FROM a\nONBUILD RUN --bad x\n")).has_value());
}
