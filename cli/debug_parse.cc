// `cbuild debug parse [--format buildkit|json] FILE`: prints the parse tree of a Dockerfile.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "cli/verbs.h"
#include "parser/parser.h"

namespace cb::cli {
namespace {

// Reads all of `f`; false with errno set on failure.
bool ReadAll(std::FILE* f, std::string& out) {
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  return !std::ferror(f);
}

}  // namespace

int DebugParse(const std::string& file, const std::string& format) {
  if (format != "buildkit" && format != "json") {
    fmt::print(stderr, "cbuild: debug parse: unknown format `{}` (want buildkit or json)\n", format);
    return 2;
  }
  std::string text;
  std::string name = file == "-" ? "Dockerfile" : file;
  if (file == "-") {
    if (!ReadAll(stdin, text)) {
      fmt::print(stderr, "cbuild: open `-`: {}\n", std::strerror(errno));
      return 1;
    }
  } else {
    std::FILE* f = std::fopen(file.c_str(), "rb");
    if (f == nullptr) {
      fmt::print(stderr, "cbuild: open `{}`: {}\n", file, std::strerror(errno));
      return 1;
    }
    bool ok = ReadAll(f, text);
    int err = errno;
    std::fclose(f);
    if (!ok) {
      fmt::print(stderr, "cbuild: open `{}`: {}\n", file, std::strerror(err));
      return 1;
    }
  }
  Result<ast::Dockerfile> df = parser::Parse(text, name);
  if (!df) {
    fmt::print(stderr, "{}", parser::FormatError(df.error(), text));
    return 1;
  }
  std::string out = format == "json" ? parser::DumpJson(*df) : parser::DumpBuildkit(*df);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

void AddDebugVerbs(CLI::App& app, const GlobalOptions&, int& rc) {
  static std::string parse_file, parse_format = "buildkit";
  auto* debug = app.add_subcommand("debug", "Tools for looking inside cbuild");
  debug->require_subcommand(1);
  auto* parse = debug->add_subcommand("parse", "Print a Dockerfile's parse tree");
  parse->add_option("--format", parse_format, "buildkit|json")->check(CLI::IsMember({"buildkit", "json"}));
  parse->add_option("file", parse_file, "Dockerfile (- for stdin)")->required();
  parse->callback([&] { rc = DebugParse(parse_file, parse_format); });
}

}  // namespace cb::cli
