// Instruction-level checks that BuildKit performs after parsing (instructions.Parse).
#include <algorithm>
#include <array>
#include <string_view>

#include "parser/parser.h"

namespace cb::parser {
namespace {

struct KnownInstruction {
  std::string_view keyword;
  std::vector<std::string_view> flags;
};

const std::vector<KnownInstruction>& Known() {
  static const std::vector<KnownInstruction> known = {
      {"from", {"platform"}},
      {"run", {"mount", "network", "security", "device"}},
      {"cmd", {}},
      {"label", {}},
      {"maintainer", {}},
      {"expose", {}},
      {"env", {}},
      {"add", {"chown", "chmod", "link", "keep-git-dir", "checksum", "exclude", "unpack"}},
      {"copy", {"from", "chown", "chmod", "link", "parents", "exclude"}},
      {"entrypoint", {}},
      {"volume", {}},
      {"user", {}},
      {"workdir", {}},
      {"arg", {}},
      {"onbuild", {}},
      {"stopsignal", {}},
      {"healthcheck", {"interval", "timeout", "start-period", "start-interval", "retries"}},
      {"shell", {}},
  };
  return known;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

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

Error At(const ast::Dockerfile& df, const ast::Instruction& inst, int col, std::string msg) {
  return Error{ErrorCode::kSyntax, std::move(msg),
               SourceLocation{df.file_name, inst.range.start_line, col}, 0};
}

// Column of `needle` in a one-line instruction, else the keyword's column.
int ColumnOf(const ast::Instruction& inst, std::string_view needle) {
  size_t at = inst.original.find(needle);
  if (at == std::string::npos || inst.range.start_line != inst.range.end_line) return inst.col;
  return inst.col + static_cast<int>(at);
}

Status CheckInstruction(const ast::Dockerfile& df, const ast::Instruction& inst,
                        const ast::Instruction& located) {
  const auto& known = Known();
  auto it = std::find_if(known.begin(), known.end(),
                         [&](const KnownInstruction& k) { return k.keyword == inst.keyword; });
  if (it == known.end()) {
    std::string msg = fmt::format("unknown instruction: {}", Upper(inst.keyword));
    for (const KnownInstruction& k : known) {
      if (EditDistance(inst.keyword, k.keyword) <= 2) {
        msg += fmt::format(" (did you mean {}?)", Upper(k.keyword));
        break;
      }
    }
    return At(df, located, ColumnOf(located, inst.original.substr(0, inst.keyword.size())), msg);
  }
  for (const std::string& flag : inst.flags) {
    std::string_view name = flag;
    if (name.substr(0, 2) == "--") name.remove_prefix(2);
    name = name.substr(0, name.find('='));
    if (std::find(it->flags.begin(), it->flags.end(), name) == it->flags.end())
      return At(df, located, ColumnOf(located, "--" + std::string(name)),
                fmt::format("{}: unknown flag: --{}", Upper(inst.keyword), name));
  }
  return Ok();
}

}  // namespace

Status Validate(const ast::Dockerfile& df) {
  bool seen_from = false;
  for (const ast::Instruction& inst : df.instructions) {
    CB_TRY(CheckInstruction(df, inst, inst));
    if (inst.keyword == "from") seen_from = true;
    if (!seen_from && inst.keyword != "arg")
      return At(df, inst, inst.col,
                fmt::format("{} before the first FROM: only ARG may come before FROM",
                            Upper(inst.keyword)));
    if (inst.keyword != "onbuild") continue;
    if (!inst.onbuild) return At(df, inst, inst.col, "ONBUILD requires an instruction");
    const std::string& sub = inst.onbuild->keyword;
    if (sub == "onbuild" || sub == "from" || sub == "maintainer")
      return At(df, inst, inst.col + inst.onbuild->col - 1,
                fmt::format("{} isn't allowed as an ONBUILD trigger", Upper(sub)));
    CB_TRY(CheckInstruction(df, *inst.onbuild, inst));
  }
  return Ok();
}

}  // namespace cb::parser
