// The one table of Dockerfile instructions and the flags each takes (BuildKit's
// instructions/parse.go), shared by the parser's validation and the planner.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"
#include "parser/ast.h"

namespace cb::parser {

/// How a flag takes its value, as BuildKit's BFlags: a bool is `--f`, `--f=true` or `--f=false`
/// (any case) and may be given once; a string needs `=value` and may be given once; a list
/// needs `=value` and may be repeated.
enum class FlagType { kBool, kString, kList };

struct FlagSpec {
  std::string_view name;  ///< without "--"
  FlagType type;
};

struct InstructionSpec {
  std::string_view keyword;  ///< lowercase
  std::span<const FlagSpec> flags;
};

/// Every instruction cbuild knows, in BuildKit's order.
std::span<const InstructionSpec> Instructions();

/// The spec of `keyword` (lowercase), or nullptr for an unknown instruction.
const InstructionSpec* FindInstruction(std::string_view keyword);

/// Flag name → its values in the order written. A bool flag's value is "true" or "false".
using FlagValues = std::multimap<std::string, std::string>;

/// Checks `ins.flags` against its instruction's table with BuildKit's rules and messages
/// ("COPY: unknown flag: --frm (did you mean from?)", "duplicate flag specified: --from",
/// "missing a value on flag: --from", "expecting boolean value for flag --link, not: x").
/// Errors are kSyntax, located in `df` at `located` (the instruction itself, or the ONBUILD
/// that wraps it), at the flag's column when the instruction is on one line.
/// An unknown instruction is an error too ("unknown instruction: COPPY (did you mean COPY?)").
Result<FlagValues> ParseFlags(const ast::Dockerfile& df, const ast::Instruction& ins,
                              const ast::Instruction& located);
inline Result<FlagValues> ParseFlags(const ast::Dockerfile& df, const ast::Instruction& ins) {
  return ParseFlags(df, ins, ins);
}

/// Levenshtein distance, for "did you mean" suggestions.
size_t EditDistance(std::string_view a, std::string_view b);

}  // namespace cb::parser
