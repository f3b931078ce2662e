#include "parser/instruction_flags.h"

#include <algorithm>
#include <array>
#include <vector>

namespace cb::parser {
namespace {

using enum FlagType;

// BuildKit's frontend/dockerfile/instructions: parse.go and the RUN hooks of commands_run*.go.
constexpr FlagSpec kFrom[] = {{"platform", kString}};
constexpr FlagSpec kRun[] = {{"mount", kList}, {"network", kString}, {"security", kString}, {"device", kList}};
constexpr FlagSpec kAdd[] = {{"chown", kString},   {"chmod", kString},  {"link", kBool},     {"keep-git-dir", kBool},
                             {"checksum", kString}, {"unpack", kBool}, {"exclude", kList}};
constexpr FlagSpec kCopy[] = {{"chown", kString}, {"from", kString},    {"chmod", kString},
                              {"link", kBool},    {"exclude", kList}, {"parents", kBool}};
constexpr FlagSpec kHealthcheck[] = {{"interval", kString},       {"timeout", kString}, {"start-period", kString},
                                     {"start-interval", kString}, {"retries", kString}};

constexpr std::array<InstructionSpec, 18> kInstructions = {{
    {"from", kFrom},
    {"run", kRun},
    {"cmd", {}},
    {"label", {}},
    {"maintainer", {}},
    {"expose", {}},
    {"env", {}},
    {"add", kAdd},
    {"copy", kCopy},
    {"entrypoint", {}},
    {"volume", {}},
    {"user", {}},
    {"workdir", {}},
    {"arg", {}},
    {"onbuild", {}},
    {"stopsignal", {}},
    {"healthcheck", kHealthcheck},
    {"shell", {}},
}};

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

/// BuildKit's suggest.Search: the closest name at a distance under 3 (the first on ties).
std::string_view Suggest(std::string_view name, const std::vector<std::string_view>& options) {
  std::string_view best;
  size_t best_dist = 3;
  for (std::string_view o : options) {
    size_t d = EditDistance(name, o);
    if (d < best_dist) {
      best = o;
      best_dist = d;
    }
  }
  return best;
}

// Column of `needle` in a one-line instruction, else the keyword's column.
int ColumnOf(const ast::Instruction& inst, std::string_view needle) {
  size_t at = inst.original.find(needle);
  if (at == std::string::npos || inst.range.start_line != inst.range.end_line) return inst.col;
  return inst.col + static_cast<int>(at);
}

Error At(const ast::Dockerfile& df, const ast::Instruction& located, int col, std::string msg) {
  return Error{ErrorCode::kSyntax, std::move(msg), SourceLocation{df.file_name, located.range.start_line, col}, 0};
}

}  // namespace

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::span<const InstructionSpec> Instructions() { return kInstructions; }

const InstructionSpec* FindInstruction(std::string_view keyword) {
  for (const InstructionSpec& s : kInstructions)
    if (s.keyword == keyword) return &s;
  return nullptr;
}

Result<FlagValues> ParseFlags(const ast::Dockerfile& df, const ast::Instruction& ins,
                              const ast::Instruction& located) {
  const InstructionSpec* spec = FindInstruction(ins.keyword);
  if (!spec) {
    std::vector<std::string_view> names;
    for (const InstructionSpec& s : kInstructions) names.push_back(s.keyword);
    std::string msg = fmt::format("unknown instruction: {}", Upper(ins.keyword));
    if (std::string_view near = Suggest(ins.keyword, names); !near.empty())
      msg += fmt::format(" (did you mean {}?)", Upper(near));
    return At(df, located, ColumnOf(located, ins.original.substr(0, ins.keyword.size())), std::move(msg));
  }
  const std::string kw = Upper(ins.keyword);
  FlagValues out;
  for (const std::string& flag : ins.flags) {
    size_t eq = flag.find('=');
    std::string written = flag.substr(0, eq);  // "--name"
    std::string name = written.rfind("--", 0) == 0 ? written.substr(2) : written;
    bool has_value = eq != std::string::npos;
    std::string value = has_value ? flag.substr(eq + 1) : "";
    auto fail = [&](std::string msg) {
      return At(df, located, ColumnOf(located, written), fmt::format("{}: {}", kw, msg));
    };
    auto f = std::find_if(spec->flags.begin(), spec->flags.end(), [&](const FlagSpec& s) { return s.name == name; });
    if (f == spec->flags.end()) {
      std::vector<std::string_view> names;
      for (const FlagSpec& s : spec->flags) names.push_back(s.name);
      std::string msg = fmt::format("unknown flag: {}", written);
      if (std::string_view near = Suggest(name, names); !near.empty()) msg += fmt::format(" (did you mean {}?)", near);
      return fail(std::move(msg));
    }
    if (f->type != FlagType::kList && out.count(name))
      return fail(fmt::format("duplicate flag specified: {}", written));
    if (f->type == FlagType::kBool) {
      if (has_value && value.empty()) return fail(fmt::format("missing a value on flag: {}", written));
      std::string v = Lower(value);
      if (v != "" && v != "true" && v != "false")
        return fail(fmt::format("expecting boolean value for flag {}, not: {}", written, value));
      value = v == "false" ? "false" : "true";
    } else if (!has_value) {
      return fail(fmt::format("missing a value on flag: {}", written));
    }
    out.emplace(name, std::move(value));
  }
  return out;
}

}  // namespace cb::parser
