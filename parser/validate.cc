// Instruction-level checks that BuildKit performs after parsing (instructions.Parse).
#include <string_view>

#include "parser/instruction_flags.h"
#include "parser/parser.h"

namespace cb::parser {
namespace {

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

Error At(const ast::Dockerfile& df, const ast::Instruction& inst, int col, std::string msg) {
  return Error{ErrorCode::kSyntax, std::move(msg),
               SourceLocation{df.file_name, inst.range.start_line, col}, 0};
}

}  // namespace

Status Validate(const ast::Dockerfile& df) {
  bool seen_from = false;
  for (const ast::Instruction& inst : df.instructions) {
    CB_TRY(ParseFlags(df, inst));
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
    CB_TRY(ParseFlags(df, *inst.onbuild, inst));
  }
  return Ok();
}

}  // namespace cb::parser
