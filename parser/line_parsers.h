// Private: the per-line parsing steps of BuildKit's parser (command split, builder flags,
// quote-aware words, per-keyword argument rules, exec-form JSON, directives, heredoc words).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "parser/ast.h"

namespace cb::parser::detail {

enum class JsonStatus { kNotJson, kNotStrings, kOk };

struct JsonArray {
  JsonStatus status = JsonStatus::kNotJson;
  std::vector<std::string> items;  ///< decoded top-level strings (when kOk)
  size_t bad_offset = 0;           ///< offset of the first non-string element (kNotStrings)
};

/// BuildKit's parseJSON: `rest` (after leading Unicode whitespace) must start with '[' and be one
/// strict JSON value. Arrays nested deeper than kMaxJsonDepth count as invalid JSON.
JsonArray ParseJsonArray(std::string_view rest);
inline constexpr int kMaxJsonDepth = 512;

/// A known parser directive found on a line, with its raw (case-preserved) name.
struct DirectiveMatch {
  std::string name;   ///< lower-cased
  std::string value;
};

/// Matches `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`; nullopt when the line is not one.
std::optional<DirectiveMatch> MatchDirective(std::string_view line);

/// A heredoc operator word (`<<EOF`, `3<<-"EOF"`), nullopt when `word` is not one.
/// An error when the delimiter cannot be lexed.
Result<std::optional<ast::Heredoc>> MatchHeredocWord(std::string_view word);

/// Heredoc operators of an instruction line, in order (BuildKit's heredocsFromLine).
Result<std::vector<ast::Heredoc>> HeredocsFromLine(std::string_view line);

/// The quote-aware word splitter of ARG/ENV/LABEL (BuildKit's parseWords).
std::vector<std::string> ParseWords(std::string_view rest, char escape);

/// Parses one assembled instruction line into keyword/flags/args (steps 6-8 of the dump
/// rules). On error, `where` holds only `col`: the 1-based byte offset within `line`.
Result<ast::Instruction> ParseInstructionLine(std::string_view line, char escape);

}  // namespace cb::parser::detail
